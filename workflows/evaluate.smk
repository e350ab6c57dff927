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


rule evaluate:
    """AUROC/AUPRC per output on the held-out test rows, beside baselines (and, for a binary head,
    F1, MCC and accuracy at the threshold chosen on the validation rows)."""
    input:
        model=run_path("{head}"),
        compare=lambda wc: list(scratch_models(wc.head).values()),
        table=lambda wc: head_table(wc.head),
        fasta=lambda wc: head_fasta(wc.head),
    output:
        metrics=run_path("{head}_metrics.tsv"),
        predictions=run_path("{head}_predictions.tsv.gz"),
    log:
        log_path("evaluate_{head}"),
    benchmark:
        benchmark_path("evaluate_{head}")
    wildcard_constraints:
        head=one_of(HEADS),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        genome=lambda wc, input: genome_flag(input.fasta),
        flags=lambda wc: f"{EVAL_FLAGS} {compare_flags(wc.head)}",
    shell:
        "OMP_NUM_THREADS={threads} genomix evaluate --model {input.model:q} "
        "--table {input.table:q} {params.genome} --out {output.metrics:q} "
        "--predictions {output.predictions:q} {params.flags} > {log:q} 2>&1"
