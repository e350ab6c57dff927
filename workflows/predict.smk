# Genome scan, `snakemake predict_genome`: `genomix scan` split into `scan.parts` jobs (equal
# shares of the genome's tiles, so an executor can spread them over nodes), gathered in order.
SCAN = config.get("scan", {})
SCAN_HEAD = SCAN.get("head", (heads_of("multilabel") or list(HEADS))[0])
SCAN_GENOME = SCAN.get("genome", HEADS[SCAN_HEAD].get("genome"))
SCAN_PARTS = SCAN.get("parts", 4)
SCAN_OUT = run_path(f"scan/{SCAN_HEAD}_{SCAN_GENOME}")


rule scan_part:
    """One share of the genome scan: rows of tiles, each scored by the window centred on it."""
    input:
        model=run_path(f"{SCAN_HEAD}"),
        fasta=f"results/genomes/{SCAN_GENOME}.fa",
        fai=f"results/genomes/{SCAN_GENOME}.fa.fai",
    output:
        temp(f"{SCAN_OUT}.parts/{{part}}.parquet"),
    log:
        log_path("scan/{part}"),
    benchmark:
        benchmark_path("scan/{part}")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        gpu=1,
    params:
        flags=cli_flags(SCAN, exclude={"head", "genome", "parts"}),
        parts=SCAN_PARTS,
    shell:
        "OMP_NUM_THREADS={threads} genomix scan {input.model:q} {input.fasta:q} "
        "--part {wildcards.part}/{params.parts} -o {output:q} {params.flags} > {log:q} 2>&1"


rule predict_genome:
    """The whole genome scan: the parts' rows concatenated in genome order."""
    input:
        expand(f"{SCAN_OUT}.parts/{{part}}.parquet", part=range(1, SCAN_PARTS + 1)),
    output:
        f"{SCAN_OUT}.parquet",
    log:
        log_path("scan/gather"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
    shell:
        "genomix gather {input:q} -o {output:q} > {log:q} 2>&1"
