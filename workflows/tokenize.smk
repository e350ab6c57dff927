rule tokenize:
    """Genome -> k-mer token shard (int32 .npy memmap + .json index), one chromosome at a time."""
    input:
        fasta="results/genomes/{genome}.fa",
        fai="results/genomes/{genome}.fa.fai",
    output:
        tokens="results/tokens/{genome}.npy",
        index="results/tokens/{genome}.json",
    log:
        "logs/tokenize/{genome}.log",
    benchmark:
        "benchmarks/tokenize/{genome}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        flags=cli_flags(config["tokenize"]),
    shell:
        "genomix tokenize {input.fasta:q} -o {output.tokens:q} {params.flags} > {log:q} 2>&1"
