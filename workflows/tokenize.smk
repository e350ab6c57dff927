rule tokenize:
    """Genome -> k-mer token shard (int32 .npy memmap + .json index), one chromosome at a time.
    The shard is named by its tokenizer (k, stride), so runs with other tokenizers keep theirs."""
    input:
        fasta="results/genomes/{genome}.fa",
        fai="results/genomes/{genome}.fa.fai",
    output:
        tokens="results/tokens/{genome}.k{k}s{stride}.npy",
        index="results/tokens/{genome}.k{k}s{stride}.json",
    log:
        "logs/tokenize/{genome}.k{k}s{stride}.log",
    benchmark:
        "benchmarks/tokenize/{genome}.k{k}s{stride}.tsv"
    wildcard_constraints:
        k=r"\d+",
        stride=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        flags=lambda wc: cli_flags({"k": int(wc.k), "stride": int(wc.stride)}),
    shell:
        "genomix tokenize {input.fasta:q} -o {output.tokens:q} {params.flags} > {log:q} 2>&1"


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
