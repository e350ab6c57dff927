"""Prediction throughput on CPU: `genomix predict` over a 1 Mb FASTA, and `predict-variants`.

    snakemake -c2                                  # trains results/demo/{promoter,chromatin}
    python bench/predict.py results/demo/chromatin [--bases 1000000] [--variants 0]
    python bench/predict.py results/demo/chromatin --bases 20000 --variants 50   # a quick check

Inputs from the same real sequence (the human chr20 slice, its first `--bases` bases): the whole
record (scored in windows of the model's length at half-window stride, then aggregated), the
same bases cut into records of 1 kb, the same bases as a one-chromosome genome scanned by
`genomix scan` (tiles of one window, each base scored once), and the demo VCF's alleles
(`--variants`, 0 = all 2,693; two windows each). Prints a markdown table and the command.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from genomix.predict import predict_fasta
from genomix.scan import scan_genome
from genomix.seqio.fasta import open_bytes, read_fasta
from genomix.variants import predict_variants

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
    parser.add_argument("--bases", type=int, default=1_000_000, help="first bases of the FASTA")
    parser.add_argument(
        "--vcf", type=Path, default=ROOT / "data/demo/human_grch37_chr20_1mb_first100kb.vcf.gz"
    )
    parser.add_argument("--variants", type=int, default=0, help="first VCF records (0 = all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    record = next(read_fasta(args.fasta))
    sequence = record.sequence[: args.bases]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        whole, pieces = Path(folder) / "whole.fa", Path(folder) / "pieces.fa"
        whole.write_text(f">{record.id}\n{sequence}\n")
        with open(pieces, "w") as handle:
            for start in range(0, len(sequence), 1000):
                handle.write(f">{record.id}_{start}\n{sequence[start : start + 1000]}\n")
        for name, fasta, n_records in (
            (f"one {len(sequence):,} bp record", whole, 1),
            ("records of 1 kb", pieces, -(-len(sequence) // 1000)),
        ):
            seconds = _timed(args.model, fasta, Path(folder) / "out.tsv", args.batch_size)
            rate = f"{n_records / seconds:,.1f} records/s, {len(sequence) / seconds:,.0f} bp/s"
            rows.append((name, seconds, rate))
        genome, vcf = Path(folder) / "genome.fa", Path(folder) / "calls.vcf"
        scanned = Path(folder) / "scanned.fa"
        scanned.write_text(f">{record.id}\n{sequence}\n")  # plain: indexable
        started = time.perf_counter()
        tiles = scan_genome(
            args.model, scanned, Path(folder) / "scan.tsv", batch_size=args.batch_size,
            device="cpu", progress=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        rate = f"{tiles / seconds:,.1f} tiles/s, {len(sequence) / seconds:,.0f} bp/s"
        rows.append((f"genome scan of the {len(sequence):,} bp ({tiles:,} tiles)", seconds, rate))
        genome.write_text(f">{record.id}\n{record.sequence}\n")  # plain: indexable
        with open_bytes(args.vcf) as source:
            lines = source.readlines()
        records = [line for line in lines if not line.startswith(b"#")]
        header = [line for line in lines if line.startswith(b"#")]
        vcf.write_bytes(b"".join(header + records[: args.variants or None]))
        started = time.perf_counter()
        n_alleles = predict_variants(
            args.model,
            vcf,
            genome,
            Path(folder) / "effects.tsv",
            batch_size=args.batch_size,
            device="cpu",
            progress=False,
            on_skip=lambda message: None,
        )
        seconds = time.perf_counter() - started
        rows.append(
            (f"{n_alleles:,} VCF alleles", seconds, f"{n_alleles / seconds:,.1f} alleles/s")
        )
    print(
        f"model {args.model}, {len(sequence):,} bp, batch {args.batch_size}, "
        f"{args.threads} threads\n"
    )
    print("| input | seconds | throughput |\n|---|---|---|")
    for name, seconds, rate in rows:
        print(f"| {name} | {seconds:.1f} | {rate} |")
    print(f"\ncommand: python bench/predict.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
