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
        + cli_flags(config["pretrain"], exclude=WORKFLOW_KEYS["pretrain"]),
    shell:
        "OMP_NUM_THREADS={threads} genomix pretrain {input.shards:q} -o {output.model:q} "
        "{params.flags} > {log:q} 2>&1"


# Multi-GPU pretraining on one node: with `pretrain.gpus` above 1 this rule replaces `pretrain`.
# torchrun starts one process per GPU (DDP); `tasks_per_gpu=0` stops the SLURM executor plugin from
# adding --ntasks-per-gpu, so the job is one task and torchrun alone starts the processes.
if config["pretrain"].get("gpus", 1) > 1:

    ruleorder: pretrain_ddp > pretrain

    rule pretrain_ddp:
        """Masked-LM pretraining with torchrun, one DDP process per GPU of one node."""
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
        threads: 4 * config["pretrain"]["gpus"]
        resources:
            gpu=config["pretrain"]["gpus"],
            tasks_per_gpu=0,
            mem_mb=16000 * config["pretrain"]["gpus"],
        params:
            flags=cli_flags(config["model"])
            + " "
            + cli_flags(config["pretrain"], exclude=WORKFLOW_KEYS["pretrain"]),
        shell:
            "OMP_NUM_THREADS=4 torchrun --standalone --nproc_per_node {resources.gpu} "
            "-m genomix.cli pretrain {input.shards:q} -o {output.model:q} {params.flags} "
            "> {log:q} 2>&1"
