STAGE_BENCHMARKS = [
    f"benchmarks/{RUN}/{stage}.tsv"
    for stage in (
        "pretrain",
        "chromatin_labels",
        "finetune_promoter",
        "finetune_chromatin",
        "evaluate_promoter",
        "evaluate_chromatin",
    )
]


rule report:
    """Markdown summary: metric tables, per-profile AUROC plot, MLM curve, stage run times."""
    input:
        chromatin=f"results/{RUN}/chromatin_auroc.tsv",
        promoter=f"results/{RUN}/promoter_metrics.tsv",
        pretrained=f"results/{RUN}/pretrain",
        benchmarks=STAGE_BENCHMARKS,
    output:
        summary=report(f"results/{RUN}/report.md", category="Summary"),
        auroc=report(f"results/{RUN}/report_chromatin_auroc.png", category="Chromatin"),
        curve=report(f"results/{RUN}/report_pretrain_curve.png", category="Pretraining"),
    log:
        f"logs/{RUN}/report.log",
    benchmark:
        f"benchmarks/{RUN}/report.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "genomix report --chromatin {input.chromatin:q} --promoter {input.promoter:q} "
        "--pretrain-metrics {input.pretrained:q}/metrics.csv --benchmarks {input.benchmarks:q} "
        "-o {output.summary:q} > {log:q} 2>&1"
