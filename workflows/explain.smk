# Which bases drive each head's calls: `genomix explain` on the test rows that the head scored
# highest (`explain.records` per output, from evaluate's predictions), with their logos.
EXPLAIN = config.get("explain", {})
EXPLAIN_RECORDS = EXPLAIN.get("records", 1)
EXPLAIN_FLAGS = cli_flags(EXPLAIN, exclude={"records"})


rule explain_promoter:
    """Base-level attribution (ISM by default) of the top-scoring promoter test rows."""
    input:
        model=f"results/{RUN}/promoter",
        table=promoter_table(),
        predictions=f"results/{RUN}/promoter_predictions.tsv.gz",
    output:
        table=f"results/{RUN}/explain/promoter.parquet",
        logos=directory(f"results/{RUN}/explain/promoter.logos"),
    log:
        f"logs/{RUN}/explain_promoter.log",
    benchmark:
        f"benchmarks/{RUN}/explain_promoter.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        top=EXPLAIN_RECORDS,
        flags=EXPLAIN_FLAGS,
    shell:
        "OMP_NUM_THREADS={threads} genomix explain {input.model:q} --table {input.table:q} "
        "--predictions {input.predictions:q} --top {params.top} --logo {params.top} "
        "--logo-dir {output.logos:q} -o {output.table:q} {params.flags} > {log:q} 2>&1"


rule explain_chromatin:
    """Base-level attribution of the top-scoring chromatin test windows of each profile."""
    input:
        model=f"results/{RUN}/chromatin",
        table=f"results/{RUN}/labels/chromatin.tsv.gz",
        fasta=f"results/genomes/{config['chromatin']['genome']}.fa",
        predictions=f"results/{RUN}/chromatin_predictions.tsv.gz",
    output:
        table=f"results/{RUN}/explain/chromatin.parquet",
        logos=directory(f"results/{RUN}/explain/chromatin.logos"),
    log:
        f"logs/{RUN}/explain_chromatin.log",
    benchmark:
        f"benchmarks/{RUN}/explain_chromatin.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        top=EXPLAIN_RECORDS,
        flags=EXPLAIN_FLAGS,
    shell:
        "OMP_NUM_THREADS={threads} genomix explain {input.model:q} --table {input.table:q} "
        "--genome {input.fasta:q} --predictions {input.predictions:q} --top {params.top} "
        "--logo {params.top} --logo-dir {output.logos:q} -o {output.table:q} {params.flags} "
        "> {log:q} 2>&1"
