# Stage times in the report: every encoder, then each stage of every head.
STAGE_BENCHMARKS = [
    benchmark_path(stage)
    for stage in (
        *ENCODERS,
        *(f"{head}_labels" for head in BUILT_TABLES["multilabel"]),
        *(f"{stage}_{head}" for stage in ("finetune", "evaluate", "explain") for head in HEADS),
    )
]


rule report:
    """Markdown summary: verdict against baselines, each head's section (its task kind's tables
    and plots), ROC/PR curves, MLM and fine-tuning curves, top-record logos, stage run times."""
    input:
        metrics=[run_path(f"{head}_metrics.tsv") for head in HEADS],
        predictions=[run_path(f"{head}_predictions.tsv.gz") for head in HEADS],
        pretrained=[run_path(name) for name in ENCODERS],
        models=[run_path(head) for head in HEADS],
        benchmarks=STAGE_BENCHMARKS,
        explain=[run_path("explain", f"{head}.parquet") for head in HEADS],
        logos=[run_path("explain", f"{head}.logos") for head in HEADS],
    output:
        summary=report(run_path("report.md"), category="Summary"),
        curves=report(run_path("report_curves.png"), category="Evaluation"),
        curve=report(run_path("report_pretrain_curve.png"), category="Pretraining"),
        finetune=report(run_path("report_finetune_curve.png"), category="Fine-tuning"),
        auroc=[
            report(run_path(f"report_{head}_auroc.png"), category="Profiles")
            for head in heads_of("multilabel")
        ],
    log:
        log_path("report"),
    benchmark:
        benchmark_path("report")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        heads=head_pairs("--heads", {head: s["task"] for head, s in HEADS.items()}),
        metrics=head_pairs("--metrics", {h: run_path(f"{h}_metrics.tsv") for h in HEADS}),
        predictions=head_pairs(
            "--predictions", {h: run_path(f"{h}_predictions.tsv.gz") for h in HEADS}
        ),
        finetune=head_pairs(
            "--finetune-metrics", {h: run_path(h, "metrics.csv") for h in HEADS}
        ),
        explain=head_pairs(
            "--explain", {h: run_path("explain", f"{h}.parquet") for h in HEADS}
        ),
        pretrain_metrics=lambda wc, input: shlex.join(
            f"{directory}/metrics.csv" for directory in input.pretrained
        ),
    shell:
        "genomix report {params.heads} {params.metrics} {params.predictions} "
        "--pretrain-metrics {params.pretrain_metrics} {params.finetune} "
        "--benchmarks {input.benchmarks:q} {params.explain} -o {output.summary:q} "
        "> {log:q} 2>&1"
