# The attention/context sweep (config section `sweep`, e.g. config/sweep-attention.yaml): the rules
# of workflows/stages.smk once per variant of genomix.sweep.plan_variants, each a Snakemake module
# with the variant's config (run <run>/<variant>: results/<run>/<variant>/, benchmarks/<run>/...),
# then one table and one plot of all variants. Included by the Snakefile only for such a config.
from genomix.sweep import (
    METRICS_FILES,
    PREDICTIONS,
    STAGES,
    plan_variants,
    variant_config,
)

SWEEP = plan_variants(config)

for variant in SWEEP:
    sweep_module = f"sweep_{variant.name}_"

    module:
        name: sweep_module
        snakefile:
            "stages.smk"
        config:
            variant_config(config, variant)
        skip_validation:
            True  # the schema checked config.yaml and the sweep section

    use rule * from sweep_module as sweep_module*


rule sweep_table:
    """One table (TSV + markdown) and one plot of every sweep variant: MLM loss beside its
    references, each head's test AUROC, pretraining tokens/s, run times and peak memory, and the
    paired AUROC gain of each longer chromatin context over the kind's shortest.
    """
    input:
        pretrained=[run_path(f"{v.name}/pretrain") for v in SWEEP],
        models=[run_path(f"{v.name}/{head}") for v in SWEEP for head in v.heads],
        metrics=[
            run_path(f"{v.name}/{METRICS_FILES[head]}")
            for v in SWEEP
            for head in v.heads
        ],
        predictions=[
            run_path(f"{v.name}/{PREDICTIONS}")
            for v in SWEEP
            if "chromatin" in v.heads
        ],
        pretrain_times=[benchmark_path(f"{v.name}/pretrain") for v in SWEEP],
        finetune_times=[
            benchmark_path(f"{v.name}/{stage}")
            for v in SWEEP
            for stage, head in STAGES.items()
            if head in v.heads
        ],
    output:
        tsv=run_path("sweep.tsv"),
        markdown=run_path("sweep.md"),
        plot=report(run_path("sweep.png"), category="Sweep"),
    log:
        log_path("sweep_table"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        # Each variant's folders: results/<run>/<variant>/ and benchmarks/<run>/<variant>/.
        variants=lambda wc, input: [os.path.dirname(path) for path in input.pretrained],
        benchmarks=lambda wc, input: [
            os.path.dirname(path) for path in input.pretrain_times
        ],
        # the context gain's interval: as many paired resamples as evaluate's own intervals
        bootstrap=config.get("evaluate", {}).get("bootstrap", 0),
        seed=config["finetune"].get("seed", 0),
    shell:
        "genomix sweep-table {params.variants:q} --benchmarks {params.benchmarks:q} "
        "--bootstrap {params.bootstrap} --seed {params.seed} "
        "--tsv {output.tsv:q} --markdown {output.markdown:q} --plot {output.plot:q} "
        "> {log:q} 2>&1"
