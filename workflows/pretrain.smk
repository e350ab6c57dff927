rule tokenize_rows:
    """A head's training rows (its fine-tuning sample, labels unused; never validation or test
    rows) -> token shard, for an encoder pretrained with `pretrain.head_rows`."""
    input:
        table=lambda wc: head_table(wc.head),
        fasta=lambda wc: head_fasta(wc.head),
    output:
        tokens=run_path("rows", "{head}.{tokenizer}.npy"),
        index=run_path("rows", "{head}.{tokenizer}.json"),
    log:
        log_path("{head}_rows.{tokenizer}"),
    benchmark:
        benchmark_path("{head}_rows.{tokenizer}")
    wildcard_constraints:
        head=one_of(HEADS),
        tokenizer=r"k\d+s\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        task=lambda wc: HEADS[wc.head]["task"],
        genome=lambda wc, input: genome_flag(input.fasta),
        flags=lambda wc: rows_flags(wc.head),
    shell:
        "genomix tokenize-rows --task {params.task} --table {input.table:q} {params.genome} "
        "-o {output.tokens:q} {params.flags} > {log:q} 2>&1"


rule pretrain:
    """Masked-LM pretraining of a sparse-attention encoder on the token shards: `pretrain`, shared
    by the heads, or `pretrain_<head>` for a head with its own `model`/`pretrain` keys."""
    input:
        shards=encoder_shards,
    output:
        model=directory(run_path("{encoder}")),
    wildcard_constraints:
        encoder="|".join(ENCODERS),
    log:
        log_path("{encoder}"),
    benchmark:
        benchmark_path("{encoder}")
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        flags=lambda wc: encoder_flags(wc.encoder),
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
            shards=encoder_shards,
        output:
            model=directory(run_path("{encoder}")),
        wildcard_constraints:
            encoder="|".join(ENCODERS),
        log:
            log_path("{encoder}"),
        benchmark:
            benchmark_path("{encoder}")
        conda:
            ENV
        threads: 4 * config["pretrain"]["gpus"]
        resources:
            gpu=config["pretrain"]["gpus"],
            tasks_per_gpu=0,
            mem_mb=16000 * config["pretrain"]["gpus"],
        params:
            flags=lambda wc: encoder_flags(wc.encoder),
        shell:
            "OMP_NUM_THREADS=4 torchrun --standalone --nproc_per_node {resources.gpu} "
            "-m genomix.cli pretrain {input.shards:q} -o {output.model:q} {params.flags} "
            "> {log:q} 2>&1"
