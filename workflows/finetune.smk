# One rule per stage over the heads of config `heads` ({head} wildcard); a head's task kind picks
# its label builder and the `--task` of genomix finetune.


rule multilabel_labels:
    """A multilabel head's DeepSEA-style labels: 200 bp bins x profiles, whole chromosomes held
    out."""
    input:
        fasta=lambda wc: head_fasta(wc.head),
        peaks=lambda wc: [data_path(path) for path in HEADS[wc.head]["peaks"].values()],
    output:
        table=run_path("labels", "{head}.tsv.gz"),
    log:
        log_path("{head}_labels"),
    benchmark:
        benchmark_path("{head}_labels")
    wildcard_constraints:
        head=one_of(BUILT_TABLES["multilabel"]),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        peaks=lambda wc: peak_flags(wc.head),
        flags=lambda wc: cli_flags(HEADS[wc.head], exclude=WORKFLOW_KEYS["multilabel"]),
    shell:
        "genomix labels {input.fasta:q} {params.peaks} -o {output.table:q} {params.flags} "
        "> {log:q} 2>&1"


rule binary_labels:
    """A binary head's table from a TSS/promoter BED (its `tss`): TSS windows + GC-matched
    negatives, sequences included, whole chromosomes held out."""
    input:
        fasta=lambda wc: f"results/genomes/{HEADS[wc.head]['genome']}.fa",
        tss=lambda wc: data_path(HEADS[wc.head]["tss"]),
    output:
        table=run_path("labels", "{head}.tsv.gz"),
    log:
        log_path("{head}_labels"),
    benchmark:
        benchmark_path("{head}_labels")
    wildcard_constraints:
        head=one_of(BUILT_TABLES["binary"]),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        flags=lambda wc: cli_flags(
            {
                key: HEADS[wc.head][key]
                for key in ("bed_upstream", "valid_chroms", "test_chroms")
                if key in HEADS[wc.head]
            }
        ),
    shell:
        "genomix promoters {input.fasta:q} --tss {input.tss:q} -o {output.table:q} "
        "{params.flags} > {log:q} 2>&1"


rule finetune:
    """A head on its pretrained encoder (the shared one, or its own)."""
    input:
        table=lambda wc: head_table(wc.head),
        fasta=lambda wc: head_fasta(wc.head),
        pretrained=lambda wc: run_path(encoder_name(wc.head)),
    output:
        model=directory(run_path("{head}")),
    log:
        log_path("finetune_{head}"),
    benchmark:
        benchmark_path("finetune_{head}")
    wildcard_constraints:
        head=one_of(HEADS),
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        task=lambda wc: HEADS[wc.head]["task"],
        genome=lambda wc, input: genome_flag(input.fasta),
        flags=lambda wc: head_flags(wc.head),
    shell:
        "OMP_NUM_THREADS={threads} genomix finetune --task {params.task} --table {input.table:q} "
        "{params.genome} --pretrained {input.pretrained:q} --out {output.model:q} "
        "{params.flags} > {log:q} 2>&1"


rule finetune_scratch:
    """A head fine-tuned from a randomly initialised encoder (the model and tokenizer of
    config.yaml), with the head's own settings: what pretraining adds (evaluate.pretraining_gain).
    """
    input:
        table=lambda wc: head_table(wc.head),
        fasta=lambda wc: head_fasta(wc.head),
    output:
        model=directory(run_path("scratch", "{head}")),
    log:
        log_path("finetune_scratch_{head}"),
    benchmark:
        benchmark_path("finetune_scratch_{head}")
    wildcard_constraints:
        head=one_of(HEADS),
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        task=lambda wc: HEADS[wc.head]["task"],
        flags=lambda wc: " ".join(
            (
                head_flags(wc.head),
                cli_flags(encoder_settings(wc.head)[0]),
                cli_flags(config["tokenize"]),
            )
        ),
        genome=lambda wc, input: genome_flag(input.fasta),
    shell:
        "OMP_NUM_THREADS={threads} genomix finetune --task {params.task} "
        "--table {input.table:q} {params.genome} --out {output.model:q} {params.flags} "
        "> {log:q} 2>&1"
