rule pretrain:
    """Masked-LM pretraining of the sparse-attention encoder on the token shards."""
    input:
        shards=expand(
            "results/tokens/{genome}.npy", genome=config["pretrain"]["genomes"]
        ),
    output:
        model=directory(f"results/{RUN}/pretrain"),
    log:
        f"logs/{RUN}/pretrain.log",
    benchmark:
        f"benchmarks/{RUN}/pretrain.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        flags=cli_flags(config["model"])
        + " "
        + cli_flags(config["pretrain"], exclude=("genomes",)),
    shell:
        "OMP_NUM_THREADS={threads} genomix pretrain {input.shards:q} -o {output.model:q} "
        "{params.flags} > {log:q} 2>&1"
