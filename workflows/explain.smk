# Which bases drive each head's calls: `genomix explain` on the test rows that the head scored
# highest (`explain.records` per output, from evaluate's predictions), with their logos.
EXPLAIN = config.get("explain", {})
EXPLAIN_RECORDS = EXPLAIN.get("records", 1)
EXPLAIN_FLAGS = cli_flags(EXPLAIN, exclude={"records"})



rule explain:
    """Base-level attribution (ISM by default) of a head's top-scoring test rows per output."""
    input:
        model=run_path("{head}"),
        table=lambda wc: head_table(wc.head),
        fasta=lambda wc: head_fasta(wc.head),
        predictions=run_path("{head}_predictions.tsv.gz"),
    output:
        table=run_path("explain", "{head}.parquet"),
        logos=directory(run_path("explain", "{head}.logos")),
    log:
        log_path("explain_{head}"),
    benchmark:
        benchmark_path("explain_{head}")
    wildcard_constraints:
        head=one_of(HEADS),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        top=EXPLAIN_RECORDS,
        genome=lambda wc, input: genome_flag(input.fasta),
        flags=EXPLAIN_FLAGS,
    shell:
        "OMP_NUM_THREADS={threads} genomix explain {input.model:q} --table {input.table:q} "
        "{params.genome} --predictions {input.predictions:q} --top {params.top} "
        "--logo {params.top} --logo-dir {output.logos:q} -o {output.table:q} {params.flags} "
        "> {log:q} 2>&1"
