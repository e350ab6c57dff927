# The test rows are capped like the validation rows in fine-tuning; the split's seed, and the rows
# the baselines train on (the head's own), are read from the model directory by `genomix evaluate`.
EVAL_FLAGS = cli_flags(
    {
        "max_rows": config["finetune"].get(
            "max_eval_rows", FinetuneConfig.max_eval_rows
        ),
        **config.get("evaluate", {}),
    },
    exclude=WORKFLOW_KEYS["evaluate"],
)


rule evaluate_chromatin:
    """AUROC/AUPRC per chromatin profile on the held-out test chromosomes, beside baselines."""
    input:
        model=f"results/{RUN}/chromatin",
        compare=scratch_models("chromatin").values(),
        table=f"results/{RUN}/labels/chromatin.tsv.gz",
        fasta=f"results/genomes/{config['chromatin']['genome']}.fa",
    output:
        metrics=f"results/{RUN}/chromatin_auroc.tsv",
        predictions=f"results/{RUN}/chromatin_predictions.tsv.gz",
    log:
        f"logs/{RUN}/evaluate_chromatin.log",
    benchmark:
        f"benchmarks/{RUN}/evaluate_chromatin.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        flags=f"{EVAL_FLAGS} {compare_flags('chromatin')}",
    shell:
        "OMP_NUM_THREADS={threads} genomix evaluate --model {input.model:q} "
        "--table {input.table:q} --genome {input.fasta:q} --out {output.metrics:q} "
        "--predictions {output.predictions:q} {params.flags} > {log:q} 2>&1"


rule evaluate_promoter:
    """AUROC, AUPRC, F1, MCC, accuracy of the promoter head on the test split, beside baselines."""
    input:
        model=f"results/{RUN}/promoter",
        compare=scratch_models("promoter").values(),
        table=promoter_table(),
    output:
        metrics=f"results/{RUN}/promoter_metrics.tsv",
        predictions=f"results/{RUN}/promoter_predictions.tsv.gz",
    log:
        f"logs/{RUN}/evaluate_promoter.log",
    benchmark:
        f"benchmarks/{RUN}/evaluate_promoter.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        flags=f"{EVAL_FLAGS} {compare_flags('promoter')}",
    shell:
        "OMP_NUM_THREADS={threads} genomix evaluate --model {input.model:q} "
        "--table {input.table:q} --out {output.metrics:q} --predictions {output.predictions:q} "
        "{params.flags} > {log:q} 2>&1"
