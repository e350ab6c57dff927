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

