"""Peak memory (and time) of genomix fetch, tokenize, labels and finetune, one subprocess per run.

```
python bench/memory.py                                  # the demo data (data/demo/)
python bench/memory.py --synthetic 8 32 --chroms 1 4    # 1 and 4 random chromosomes of 8, 32 Mb
python bench/memory.py --finetune-rows 500000 2000000 --genome-mb 200   # streamed windows
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

The finetune mode writes a random genome of `--genome-mb` Mb (4 chromosomes) and coordinate
tables of 1,000-bp windows with 8 profile columns and a split column (as `genomix labels`
writes them), then runs `genomix finetune` (a tiny model, a few steps on capped rows: the
table is what is measured) on each. The streamed table holds coordinates and labels, so extra
memory grows with the rows by a constant number of bytes a row: the slope between the
smallest and largest table. `--in-memory-rows` also runs the table read whole (sequences as
strings, `read_labeled_table(stream=False)`) for comparison.
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
import pandas as pd

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


FINETUNE_FLAGS = [
    "--task", "chromatin", "--max-steps", "4", "--eval-every", "4", "--batch-size", "8",
    "--max-train-rows", "2000", "--max-eval-rows", "500", "--device", "cpu",
    "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--d-ff", "64",
    "--attention", "dense", "--k", "6", "--stride", "6",
]  # fmt: skip
WINDOW_BP = 1000


def finetune_child(stage: str, genome: Path, table: Path, out: Path) -> None:
    """`genomix finetune` on `table` in this process (stage 'finetune', streamed as the CLI
    reads it; 'finetune-in-memory': the table read whole first); print baseline, peak, seconds."""
    from genomix import cli
    from genomix.config import FinetuneConfig, TokenizeConfig
    from genomix.data.tables import read_labeled_table
    from genomix.finetune import finetune
    from genomix.model import EncoderConfig

    baseline = _peak_mib()
    start = time.perf_counter()
    flags = ["--table", str(table), "--genome", str(genome), "--out", str(out / "model")]
    if stage == "finetune":
        cli.main(["finetune", *flags, *FINETUNE_FLAGS])
    else:
        table = read_labeled_table(table, task="chromatin", genome=genome)
        finetune(
            table,
            out / "model",
            task="chromatin",
            config=FinetuneConfig(
                max_steps=4, eval_every=4, batch_size=8, max_train_rows=2000, max_eval_rows=500,
                device="cpu",
            ),
            model_config=EncoderConfig(
                d_model=32, n_layers=1, n_heads=2, d_ff=64, attention="dense"
            ),
            tokenize_config=TokenizeConfig(k=6, stride=6),
            progress=False,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    print(json.dumps({"baseline": baseline, "peak": _peak_mib(), "seconds": seconds}))


def synthetic_windows(path: Path, genome: Path, *, rows: int, seed: int = 0) -> Path:
    """`rows` random 1,000-bp windows of `genome` with 8 0/1 profiles (5% positives), gzip TSV;
    the last chromosome is the test split, 10% of the rest valid."""
    rng = np.random.default_rng(seed)
    records = [line.split("\t")[:2] for line in Path(f"{genome}.fai").read_text().splitlines()]
    chrom = rng.integers(0, len(records), rows)
    size = np.array([int(length) for _, length in records])
    start = (rng.random(rows) * (size[chrom] - WINDOW_BP)).astype(np.int64)
    split = np.where(chrom == len(records) - 1, "test", "train").astype(object)
    split[(split == "train") & (rng.random(rows) < 0.1)] = "valid"
    frame = pd.DataFrame(
        {
            "chrom": np.array([name for name, _ in records], dtype=object)[chrom],
            "start": start,
            "end": start + WINDOW_BP,
            "split": split,
            **{f"p{j}": (rng.random(rows) < 0.05).astype(np.uint8) for j in range(8)},
        }
    )
    frame.to_csv(path, sep="\t", index=False, compression={"method": "gzip", "compresslevel": 1})
    return path


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


def finetune_memory(sizes: list[int], *, genome_mb: float, in_memory: list[int]) -> None:
    """Print the finetune table (rows, reader, baseline, peak, extra, seconds, MiB per M rows)
    and the bytes a row between the smallest and largest streamed table."""
    print("| rows | reader | baseline MiB | peak MiB | extra MiB | seconds |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = synthetic_genome(folder / "synth.fa.gz", n_chroms=4, mb=genome_mb / 4)
        genome = fetched(source, folder)
        streamed = {}
        for rows in sorted(sizes):
            table = synthetic_windows(folder / f"windows_{rows}.tsv.gz", genome, rows=rows)
            for stage in ("finetune", "finetune-in-memory"):
                if stage == "finetune-in-memory" and rows not in in_memory:
                    continue
                m = measure(stage, genome, [str(table)])
                extra = m["peak"] - m["baseline"]
                if stage == "finetune":
                    streamed[rows] = extra
                reader = "streamed" if stage == "finetune" else "in memory (stream=False)"
                print(
                    f"| {rows:,} | {reader} | {m['baseline']:.0f} | {m['peak']:.0f} | "
                    f"{extra:.0f} | {m['seconds']:.1f} |"
                )
            table.unlink()
    if len(streamed) >= 2:
        small, large = min(streamed), max(streamed)
        slope = (streamed[large] - streamed[small]) * 2**20 / (large - small)
        print(
            f"\nstreamed: {slope:.1f} bytes a row between {small:,} and {large:,} rows "
            f"({genome_mb:g} Mb genome, 8 profiles)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--synthetic", type=float, nargs="+", metavar="MB", help="chromosome sizes in Mb"
    )
    parser.add_argument("--chroms", type=int, nargs="+", default=[1, 4], help="with --synthetic")
    parser.add_argument(
        "--finetune-rows", type=int, nargs="+", metavar="N", help="table sizes of finetune mode"
    )
    parser.add_argument("--genome-mb", type=float, default=200, help="with --finetune-rows")
    parser.add_argument(
        "--in-memory-rows",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="with --finetune-rows: also read these tables whole (the unstreamed reader)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, genome, out, *peaks = args.child
        if stage.startswith("finetune"):
            finetune_child(stage, Path(genome), Path(peaks[0]), Path(out))
        else:
            child(stage, Path(genome), Path(out), peaks)
        return
    if args.finetune_rows:
        finetune_memory(args.finetune_rows, genome_mb=args.genome_mb, in_memory=args.in_memory_rows)
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
