STAGE_BENCHMARKS = [
    f"benchmarks/{RUN}/{stage}.tsv"
    for stage in (
        *ENCODERS,
        "chromatin_labels",
        "finetune_promoter",
        "finetune_chromatin",
        "evaluate_promoter",
        "evaluate_chromatin",
        "explain_promoter",
        "explain_chromatin",
    )
]


rule report:
    """Markdown summary: verdict against baselines, metric tables, per-profile AUROC plot, ROC/PR
    curves, MLM and fine-tuning curves, top-record logos, stage run times."""
    input:
        chromatin=f"results/{RUN}/chromatin_auroc.tsv",
        promoter=f"results/{RUN}/promoter_metrics.tsv",
        chromatin_predictions=f"results/{RUN}/chromatin_predictions.tsv.gz",
        promoter_predictions=f"results/{RUN}/promoter_predictions.tsv.gz",
        pretrained=[f"results/{RUN}/{name}" for name in ENCODERS],
        promoter_model=f"results/{RUN}/promoter",
        chromatin_model=f"results/{RUN}/chromatin",
        benchmarks=STAGE_BENCHMARKS,
        promoter_explain=f"results/{RUN}/explain/promoter.parquet",
        chromatin_explain=f"results/{RUN}/explain/chromatin.parquet",
        logos=[
            f"results/{RUN}/explain/promoter.logos",
            f"results/{RUN}/explain/chromatin.logos",
        ],
    output:
        summary=report(f"results/{RUN}/report.md", category="Summary"),
        auroc=report(f"results/{RUN}/report_chromatin_auroc.png", category="Chromatin"),
        curves=report(f"results/{RUN}/report_curves.png", category="Evaluation"),
        curve=report(f"results/{RUN}/report_pretrain_curve.png", category="Pretraining"),
        finetune=report(
            f"results/{RUN}/report_finetune_curve.png", category="Fine-tuning"
        ),
    log:
        f"logs/{RUN}/report.log",
    benchmark:
        f"benchmarks/{RUN}/report.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        pretrain_metrics=lambda wc, input: shlex.join(
            f"{directory}/metrics.csv" for directory in input.pretrained
        ),
        heads="--heads promoter=binary chromatin=multilabel",
    shell:
        "genomix report {params.heads} --metrics promoter={input.promoter:q} "
        "chromatin={input.chromatin:q} --predictions promoter={input.promoter_predictions:q} "
        "chromatin={input.chromatin_predictions:q} "
        "--pretrain-metrics {params.pretrain_metrics} "
        "--finetune-metrics promoter={input.promoter_model:q}/metrics.csv "
        "chromatin={input.chromatin_model:q}/metrics.csv --benchmarks {input.benchmarks:q} "
        "--explain promoter={input.promoter_explain:q} chromatin={input.chromatin_explain:q} "
        "-o {output.summary:q} > {log:q} 2>&1"
