"""Prediction throughput on CPU: records/s and bp/s of `genomix predict` over a 1 Mb FASTA.

    snakemake -c2                                  # trains results/demo/{promoter,chromatin}
    python bench/predict.py results/demo/chromatin [--fasta data/demo/human_grch37_chr20_1mb.fa.gz]

Two inputs from the same real sequence (the human chr20 slice): the whole 1 Mb record (scored in
windows of the model's length at half-window stride, then aggregated) and the same megabase cut
into 1,000 records of 1 kb. Prints a markdown table and the command.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from genomix.fasta import read_fasta
from genomix.predict import predict_fasta

ROOT = Path(__file__).resolve().parents[1]


def _timed(model: Path, fasta: Path, out: Path, batch_size: int) -> float:
    started = time.perf_counter()
    predict_fasta(model, fasta, out, batch_size=batch_size, device="cpu", progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="fine-tuned model directory")
    parser.add_argument(
        "--fasta", type=Path, default=ROOT / "data/demo/human_grch37_chr20_1mb.fa.gz"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    record = next(read_fasta(args.fasta))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        pieces = Path(folder) / "pieces.fa"
        with open(pieces, "w") as handle:
            for start in range(0, len(record.sequence), 1000):
                handle.write(f">{record.id}_{start}\n{record.sequence[start : start + 1000]}\n")
        for name, fasta, n_records in (
            ("one 1 Mb record", args.fasta, 1),
            ("1,000 records of 1 kb", pieces, -(-len(record.sequence) // 1000)),
        ):
            seconds = _timed(args.model, fasta, Path(folder) / "out.tsv", args.batch_size)
            rows.append((name, seconds, n_records / seconds, len(record.sequence) / seconds))
    print(
        f"model {args.model}, {len(record.sequence):,} bp, batch {args.batch_size}, "
        f"{args.threads} threads\n"
    )
    print("| input | seconds | records/s | bp/s |\n|---|---|---|---|")
    for name, seconds, records_per_s, bp_per_s in rows:
        print(f"| {name} | {seconds:.1f} | {records_per_s:,.1f} | {bp_per_s:,.0f} |")
    print(f"\ncommand: python bench/predict.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
