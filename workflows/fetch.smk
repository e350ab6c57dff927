rule fetch:
    """Download (or copy) a genome, verify its checksum, decompress, index with pyfaidx."""
    input:
        local_source,
    output:
        fasta="results/genomes/{genome}.fa",
        fai="results/genomes/{genome}.fa.fai",
    log:
        "logs/fetch/{genome}.log",
    benchmark:
        "benchmarks/fetch/{genome}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        url=lambda wc: source_url(config["genomes"][wc.genome]["url"]),
        flags=lambda wc: cli_flags(config["genomes"][wc.genome], exclude=("url",)),
    shell:
        "genomix fetch {params.url:q} -o {output.fasta:q} {params.flags} > {log:q} 2>&1"


rule fetch_file:
    """Download one peak/TSS file byte for byte (resumable; one job per URL, so they run in
    parallel and one unreachable URL fails only its own job under --keep-going)."""
    output:
        "results/downloads/{filename}",
    log:
        "logs/fetch/downloads/{filename}.log",
    benchmark:
        "benchmarks/fetch/downloads/{filename}.tsv"
    wildcard_constraints:
        filename="|".join(re.escape(name) for name in DOWNLOADS) or "(?!)",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
    params:
        url=lambda wc: DOWNLOADS[wc.filename],
    shell:
        "genomix fetch --as-is {params.url:q} -o {output:q} > {log:q} 2>&1"
