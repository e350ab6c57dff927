rule chromatin_labels:
    """DeepSEA-style labels: 200 bp bins x profiles, whole chromosomes held out."""
    input:
        fasta=f"results/genomes/{config['chromatin']['genome']}.fa",
        peaks=[data_path(path) for path in config["chromatin"]["peaks"].values()],
    output:
        table=f"results/{RUN}/labels/chromatin.tsv.gz",
    log:
        f"logs/{RUN}/chromatin_labels.log",
    benchmark:
        f"benchmarks/{RUN}/chromatin_labels.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        peaks=peak_flags(),
        flags=cli_flags(
            config["chromatin"], exclude=WORKFLOW_KEYS["chromatin"]
        ),
    shell:
        "genomix labels {input.fasta:q} {params.peaks} -o {output.table:q} {params.flags} "
        "> {log:q} 2>&1"


rule promoter_labels:
    """Promoter table from a TSS/promoter BED (`promoter.tss`): TSS windows + GC-matched negatives,
    sequences included, whole chromosomes held out."""
    input:
        fasta=lambda wc: f"results/genomes/{config['promoter']['genome']}.fa",
        tss=lambda wc: data_path(config["promoter"]["tss"]),
    output:
        table=f"results/{RUN}/labels/promoter.tsv.gz",
    log:
        f"logs/{RUN}/promoter_labels.log",
    benchmark:
        f"benchmarks/{RUN}/promoter_labels.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        flags=lambda wc: cli_flags(
            {
                key: config["promoter"][key]
                for key in ("bed_upstream", "valid_chroms", "test_chroms")
                if key in config["promoter"]
            }
        ),
    shell:
        "genomix promoters {input.fasta:q} --tss {input.tss:q} -o {output.table:q} "
        "{params.flags} > {log:q} 2>&1"


rule finetune_promoter:
    """Promoter head (binary) on the pretrained encoder."""
    input:
        table=promoter_table(),
        pretrained=f"results/{RUN}/{encoder_name('promoter')}",
    output:
        model=directory(f"results/{RUN}/promoter"),
    log:
        f"logs/{RUN}/finetune_promoter.log",
    benchmark:
        f"benchmarks/{RUN}/finetune_promoter.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        flags=head_flags("promoter"),
    shell:
        "OMP_NUM_THREADS={threads} genomix finetune --task promoter --table {input.table:q} "
        "--pretrained {input.pretrained:q} --out {output.model:q} {params.flags} > {log:q} 2>&1"


rule finetune_chromatin:
    """Chromatin head (one output per profile) on the pretrained encoder."""
    input:
        table=f"results/{RUN}/labels/chromatin.tsv.gz",
        fasta=f"results/genomes/{config['chromatin']['genome']}.fa",
        pretrained=f"results/{RUN}/{encoder_name('chromatin')}",
    output:
        model=directory(f"results/{RUN}/chromatin"),
    log:
        f"logs/{RUN}/finetune_chromatin.log",
    benchmark:
        f"benchmarks/{RUN}/finetune_chromatin.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        flags=head_flags("chromatin"),
    shell:
        "OMP_NUM_THREADS={threads} genomix finetune --task chromatin --table {input.table:q} "
        "--genome {input.fasta:q} --pretrained {input.pretrained:q} --out {output.model:q} "
        "{params.flags} > {log:q} 2>&1"


rule finetune_scratch:
    """A head fine-tuned from a randomly initialised encoder (the model and tokenizer of
    config.yaml), with the head's own settings: what pretraining adds (evaluate.pretraining_gain).
    """
    input:
        table=lambda wc: (
            promoter_table()
            if wc.head == "promoter"
            else f"results/{RUN}/labels/chromatin.tsv.gz"
        ),
        fasta=lambda wc: (
            []
            if wc.head == "promoter"
            else f"results/genomes/{config['chromatin']['genome']}.fa"
        ),
    output:
        model=directory(f"results/{RUN}/scratch/{{head}}"),
    log:
        f"logs/{RUN}/finetune_scratch_{{head}}.log",
    benchmark:
        f"benchmarks/{RUN}/finetune_scratch_{{head}}.tsv"
    wildcard_constraints:
        head="promoter|chromatin",
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        flags=lambda wc: " ".join(
            (
                head_flags(wc.head),
                cli_flags(encoder_settings(wc.head)[0]),
                cli_flags(config["tokenize"]),
            )
        ),
        genome=lambda wc, input: (
            f"--genome {shlex.quote(input.fasta)}" if input.fasta else ""
        ),
    shell:
        "OMP_NUM_THREADS={threads} genomix finetune --task {wildcards.head} "
        "--table {input.table:q} {params.genome} --out {output.model:q} {params.flags} "
        "> {log:q} 2>&1"
