"""Peak memory (and time) of genomix fetch, tokenize and labels, one subprocess per run.

```
python bench/memory.py                                  # the demo data (data/demo/)
python bench/memory.py --synthetic 8 32 --chroms 1 4    # 1 and 4 random chromosomes of 8, 32 Mb
```

Each stage runs in its own Python process. The child imports genomix, reads its peak resident set
size (VmHWM in /proc/self/status; ``resource.getrusage`` elsewhere) as the baseline, runs the
stage, and reads the peak again; "extra" is the difference, the memory the stage itself needed,
"seconds" the time of the stage alone (imports excluded) and Mb/s the genome size over it. Both
stages are meant to hold one chromosome at a time. The synthetic mode checks that premise (with
equal chromosome sizes the peak must not grow with their number) and measures the cost per base
as the slope of extra between the smallest and largest single-chromosome size; the hg38 line is
baseline + extra at the smallest size + slope x (chr1 - that size), chr1 = 248,956,422 bp: an
extrapolation, not a measurement.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CHR1_HG38 = 248_956_422
DM3_PEAKS = sorted((DEMO / "dm3_peaks").glob("*.bed.gz"))


def _peak_mib() -> float:
    """Peak resident set size of this process so far, MiB.

    VmHWM of /proc/self/status where there is one: ``ru_maxrss`` survives exec on Linux, so a child
    started from a large parent would report the parent's peak as its own.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux and BSD: KiB


def child(stage: str, genome: Path, out: Path, peaks: list[str]) -> None:
    """Run one stage in this process; print {"baseline": MiB, "peak": MiB, "seconds": s}."""
    from genomix.data.labels import iter_chromatin_table, write_tables
    from genomix.data.pretrain import write_token_shard
    from genomix.kmers import KmerTokenizer
    from genomix.seqio.genome import fetch_genome

    baseline = _peak_mib()
    start = time.perf_counter()
    if stage == "fetch":  # `genome` is the gzip source here
        fetch_genome(str(genome), out / "genome.fa", progress=False)
    elif stage == "tokenize":
        write_token_shard(genome, out / "tokens.npy", KmerTokenizer(6, 1))
    else:
        names = [line.split("\t", 1)[0] for line in Path(f"{genome}.fai").read_text().splitlines()]
        chunks = iter_chromatin_table(
            genome,
            dict(item.split("=", 1) for item in peaks),
            valid_chroms=(),
            test_chroms=(names[-1].split(":")[0],),  # a segment chrom:start-end lies on chrom
        )
        write_tables(chunks, out / "labels.tsv.gz")
    seconds = time.perf_counter() - start
    print(json.dumps({"baseline": baseline, "peak": _peak_mib(), "seconds": seconds}))


def measure(stage: str, genome: Path, peaks: list[str]) -> dict[str, float]:
    """Run `stage` on `genome` in a fresh interpreter; its baseline and peak RSS in MiB."""
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, __file__, "--child", stage, str(genome), out, *peaks],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode:
        raise SystemExit(f"{stage} on {genome} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def fetched(source: Path, folder: Path) -> Path:
    """`source` rewritten and indexed as `genomix fetch` does (what both stages read)."""
    from genomix.seqio.genome import fetch_genome

    return fetch_genome(str(source), folder / f"{source.name.split('.')[0]}.fa", progress=False)


def synthetic_genome(path: Path, *, n_chroms: int, mb: float, seed: int = 0) -> Path:
    """`n_chroms` random chromosomes of `mb` Mb each (a 10 kb N gap in each), gzip FASTA."""
    rng = np.random.default_rng(seed)
    size = int(mb * 1_000_000)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for i in range(n_chroms):
            codes = rng.integers(
                0, 4, size, dtype=np.uint8
            )  # 1 byte per base: keep the parent small
            seq = np.frombuffer(b"ACGT", dtype=np.uint8)[codes].tobytes()
            seq = seq[: size // 2] + b"N" * 10_000 + seq[size // 2 + 10_000 :]
            fh.write(f">chr{i + 1}\n".encode())
            fh.write(b"\n".join(seq[j : j + 60] for j in range(0, size, 60)) + b"\n")
    return path


def synthetic_peaks(folder: Path, *, n_chroms: int, mb: float, n_profiles: int = 8) -> list[str]:
    """`n_profiles` BED files of 500-bp peaks every 20 kb on every chromosome."""
    items = []
    for p in range(n_profiles):
        bed = folder / f"p{p}.bed"
        lines = [
            f"chr{c + 1}\t{s}\t{s + 500}\n"
            for c in range(n_chroms)
            for s in range(p * 1000, int(mb * 1_000_000) - 500, 20_000)
        ]
        bed.write_text("".join(lines))
        items.append(f"p{p}={bed}")
    return items


def largest_chromosome(genome: Path) -> int:
    return max(int(line.split("\t")[1]) for line in Path(f"{genome}.fai").read_text().splitlines())


def report(
    label: str, stage: str, genome: Path, peaks: list[str], *, source: Path | None = None
) -> dict[str, float]:
    """Measure one stage on `genome` (fetch: on its gzip `source`), print its table row.

    Returns:
        baseline and extra (MiB) and the largest chromosome (bp).
    """
    largest = largest_chromosome(genome)
    total = sum(int(line.split("\t")[1]) for line in Path(f"{genome}.fai").read_text().splitlines())
    m = measure(stage, source or genome, peaks)
    extra = m["peak"] - m["baseline"]
    print(
        f"| {stage} | {label} | {total / 1e6:.2f} | {largest / 1e6:.2f} | {m['baseline']:.0f} | "
        f"{m['peak']:.0f} | {extra:.0f} | {m['seconds']:.2f} | {total / 1e6 / m['seconds']:.1f} |"
    )
    return {"baseline": m["baseline"], "extra": extra, "largest": largest}


def extrapolate(stage: str, small: dict[str, float], large: dict[str, float]) -> None:
    """Print the per-base slope between two single-chromosome runs and the chr1 estimate."""
    slope = (large["extra"] - small["extra"]) * 2**20 / (large["largest"] - small["largest"])
    chr1 = small["baseline"] + small["extra"] + slope * (CHR1_HG38 - small["largest"]) / 2**20
    print(
        f"{stage}: {slope:.2f} bytes per base of the largest chromosome; hg38 (chr1 "
        f"{CHR1_HG38:,} bp) estimate: {small['baseline']:.0f} + {small['extra']:.0f} + "
        f"{slope:.2f} x {(CHR1_HG38 - small['largest']) / 2**20:,.1f} Mi = {chr1:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--synthetic", type=float, nargs="+", metavar="MB", help="chromosome sizes in Mb"
    )
    parser.add_argument("--chroms", type=int, nargs="+", default=[1, 4], help="with --synthetic")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, genome, out, *peaks = args.child
        child(stage, Path(genome), Path(out), peaks)
        return
    print(
        "| stage | input | genome Mb | largest chromosome Mb | baseline MiB | peak MiB | "
        "extra MiB | seconds | Mb/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.synthetic is None:
            for name in ("human_grch37_chr20_1mb.fa.gz", "GCF_000005845.2_ASM584v2_genomic.fna.gz"):
                report(name, "tokenize", fetched(DEMO / name, folder), [])
            dm3 = fetched(DEMO / "dm3_segments.fa.gz", folder)
            peaks = [f"{p.name.split('.')[0]}={p}" for p in DM3_PEAKS]
            report("dm3_segments + 8 peak files", "labels", dm3, peaks)
            return
        single: dict[str, list[dict[str, float]]] = {"fetch": [], "tokenize": [], "labels": []}
        for mb in sorted(args.synthetic):
            for n in args.chroms:
                sub = folder / f"{mb:g}mb_x{n}"
                sub.mkdir()
                source = synthetic_genome(sub / "synth.fa.gz", n_chroms=n, mb=mb)
                genome = fetched(source, sub)
                peaks = synthetic_peaks(sub, n_chroms=n, mb=mb)
                label = f"{n} x {mb:g} Mb synthetic"
                for stage, stage_peaks in (("fetch", []), ("tokenize", []), ("labels", peaks)):
                    row = report(
                        label,
                        stage,
                        genome,
                        stage_peaks,
                        source=source if stage == "fetch" else None,
                    )
                    if n == 1:
                        single[stage].append(row)
        print()
        for stage, rows in single.items():
            if len(rows) >= 2:
                extrapolate(stage, rows[0], rows[-1])


if __name__ == "__main__":
    main()
