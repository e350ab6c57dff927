"""Benchmark: DeepSEA-style chromatin labels for 5 profiles over the dm3 demo segments.

Run from the repository root::

    python bench/labels.py [--profiles 5] [--repeats 3]

Builds ``build_chromatin_table`` from ``data/demo/dm3_segments.fa.gz`` (arms chr2L, chrX, chr3L,
13.8 Mb of sequence) and the first ``--profiles`` peak files of ``data/demo/dm3_peaks``,
then writes the table with ``write_table`` to a temporary gzip TSV. Prints a markdown table.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from genomix.data.labels import build_chromatin_table, write_table
from genomix.seqio.fasta import read_fasta_records

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def main() -> None:
    """Time the label build and the table write; print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    genome = DEMO / "dm3_segments.fa.gz"
    peaks = {
        p.name.removesuffix(".bed.gz"): p for p in sorted((DEMO / "dm3_peaks").glob("*.bed.gz"))
    }
    peaks = dict(list(peaks.items())[: args.profiles])
    n_bases = sum(len(seq) for _, seq in read_fasta_records(genome))

    start = time.perf_counter()
    for _ in read_fasta_records(genome):
        pass
    read_s = time.perf_counter() - start
    build_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        table = build_chromatin_table(genome, peaks, valid_chroms=("chrX",), test_chroms=("chr3L",))
        build_times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_table(table, Path(tmp) / "windows.tsv.gz")
        write_s = time.perf_counter() - start

    print(
        f"{n_bases / 1e6:.2f} Mb in dm3 demo segments, {len(peaks)} profiles "
        f"({', '.join(peaks)}), {len(table):,} windows, "
        f"{int(table[list(peaks)].to_numpy().sum()):,} positive cells; best of {args.repeats}\n"
    )
    print("| step | seconds |")
    print("|---|---|")
    print(f"| read + parse the gzip FASTA alone | {read_s:.2f} |")
    print(f"| build_chromatin_table (includes the FASTA read) | {min(build_times):.2f} |")
    print(f"| write_table (gzip TSV) | {write_s:.2f} |")
    print(f"\ncommand: python bench/{Path(__file__).name} " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
