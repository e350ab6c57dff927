"""Scoring with a fine-tuned model: `genomix predict` (FASTA or BED regions), `genomix
predict-variants` (ref vs alt per VCF allele), `genomix scan` (a genome in parts) and `genomix
gather` (the parts into one table)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.commands.command import Command, Section
from genomix.commands.options import add_format, add_progress, report_skip
from genomix.config import PredictConfig, ScanConfig, VariantsConfig, config_from_arguments
from genomix.errors import GenomixError
from genomix.seqio.outputs import FORMATS


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the sequences (FASTA, or BED + genome) and the outputs of `genomix predict`."""
    parser.add_argument("model", type=Path, help="fine-tuned model directory")
    parser.add_argument(
        "fasta", type=Path, nargs="?", help="FASTA (plain or gzipped); or give --bed and --genome"
    )
    parser.add_argument(
        "--bed", type=Path, help="BED intervals to score (name column or chrom:start-end as id)"
    )
    parser.add_argument("--genome", type=Path, help="indexed FASTA the --bed intervals lie on")
    parser.add_argument("-o", "--out", type=Path, help="output table (.tsv, or .parquet)")
    add_format(parser)
    parser.add_argument(
        "--bigwig",
        type=Path,
        metavar="DIR",
        help="with --bed: one bigWig track per model output in DIR (each base scored by the "
        "window whose centre is nearest)",
    )
    parser.add_argument(
        "--bedgraph", type=Path, metavar="DIR", help="with --bed: the same tracks as bedGraph"
    )
    add_progress(parser)


def run_predict(args: argparse.Namespace) -> None:
    """Score every record (or BED interval) in windows, stitched; write a table and tracks."""
    from genomix.predict import predict_fasta

    if (args.fasta is None) == (args.bed is None) or (args.bed is None) != (args.genome is None):
        raise GenomixError("predict: give either a FASTA file, or --bed with --genome")
    config = config_from_arguments(PredictConfig, args, "predict")
    predict_fasta(
        args.model,
        args.fasta if args.bed is None else args.genome,
        args.out,
        bed=args.bed,
        output_format=args.format,
        stride=config.stride,
        aggregate=config.aggregate,
        batch_size=config.batch_size,
        device=config.device,
        skip_invalid=config.skip_invalid,
        per_window=config.per_window,
        progress=args.progress,
        on_skip=report_skip,
        rc_average=config.rc_average,
        tracks=[
            (name, directory)
            for name, directory in (("bigwig", args.bigwig), ("bedgraph", args.bedgraph))
            if directory is not None
        ],
    )


def add_variants_arguments(parser: argparse.ArgumentParser) -> None:
    """The VCF, its genome, the model and the output of `genomix predict-variants`."""
    parser.add_argument("vcf", type=Path, help="VCF (plain, gzip or bgzip)")
    parser.add_argument("--genome", required=True, type=Path, help="indexed FASTA of the VCF")
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    parser.add_argument(
        "-o", "--out", required=True, type=Path, help="output table (.tsv, or .parquet)"
    )
    add_format(
        parser,
        choices=(*FORMATS, "vcf"),
        note="vcf: one record per allele, scores in INFO",
    )
    add_progress(parser)


def run_variants(args: argparse.Namespace) -> None:
    """Score the ref and alt windows of every allele; write their differences."""
    from genomix.variants import predict_variants

    config = config_from_arguments(VariantsConfig, args, "variants")
    predict_variants(
        args.model,
        args.vcf,
        args.genome,
        args.out,
        batch_size=config.batch_size,
        device=config.device,
        skip_invalid=config.skip_invalid,
        progress=args.progress,
        on_skip=report_skip,
        output_format=args.format,
        region=config.region,
        allow_ref_mismatch=config.allow_ref_mismatch,
    )


def _part(text: str) -> tuple[int, int]:
    """argparse type: 'I/N' (1 <= I <= N) -> (I - 1, N)."""
    index, _, total = text.partition("/")
    if not (index.isdigit() and total.isdigit() and 1 <= int(index) <= int(total)):
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N with 1 <= I <= N (e.g. 3/8)")
    return int(index) - 1, int(total)


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the genome, the part and the output of `genomix scan`."""
    parser.add_argument("model", type=Path, help="fine-tuned model directory")
    parser.add_argument("genome", type=Path, help="indexed FASTA (plain or BGZF)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="table (.tsv, or .parquet)")
    add_format(parser)
    parser.add_argument(
        "--part", type=_part, default=(0, 1), metavar="I/N",
        help="scan the I-th of N equal shares of the tiles (default 1/1: all)",
    )  # fmt: skip
    add_progress(parser)


def run_scan(args: argparse.Namespace) -> None:
    """Score this part's tiles of the genome."""
    from genomix.scan import scan_genome

    config = config_from_arguments(ScanConfig, args, "scan")
    part, parts = args.part
    scan_genome(
        args.model,
        args.genome,
        args.out,
        chroms=config.chroms,
        tile=config.tile or None,
        part=part,
        parts=parts,
        batch_size=config.batch_size,
        device=config.device,
        output_format=args.format,
        progress=args.progress,
    )


def add_gather_arguments(parser: argparse.ArgumentParser) -> None:
    """The part tables and the output of `genomix gather`."""
    parser.add_argument("parts", type=Path, nargs="+", help="part tables, in order")
    parser.add_argument("-o", "--out", required=True, type=Path, help="table (.tsv, or .parquet)")


def run_gather(args: argparse.Namespace) -> None:
    """Concatenate the part tables, in order."""
    from genomix.scan import gather_tables

    gather_tables(args.parts, args.out)


PREDICT = Command(
    name="predict",
    help="Predict on a FASTA file or BED regions of a genome, any length.",
    epilog="example:\n  genomix predict models/chromatin reads.fa.gz -o predictions.tsv "
    "--aggregate max\n"
    "  genomix predict models/chromatin --bed regions.bed --genome hg38.fa -o out.parquet\n"
    "  genomix predict models/chromatin --bed regions.bed --genome hg38.fa --bigwig tracks/",
    add_arguments=add_predict_arguments,
    run=run_predict,
    sections=(Section(PredictConfig, "predict"),),
)
VARIANTS = Command(
    name="predict-variants",
    help="Variant effects: ref vs alt window scores per VCF allele.",
    epilog="example:\n  genomix predict-variants calls.vcf.gz --genome hg19.fa "
    "--model models/chromatin -o effects.tsv",
    add_arguments=add_variants_arguments,
    run=run_variants,
    sections=(Section(VariantsConfig, "variants"),),
)
SCAN = Command(
    name="scan",
    help="Genome scan: one score per base, tiled; one part of N per job.",
    epilog="example:\n  genomix scan models/chromatin hg38.fa -o scan/part3.parquet "
    "--part 3/8\n  genomix gather scan/part1.parquet ... scan/part8.parquet -o scan.parquet",
    add_arguments=add_scan_arguments,
    run=run_scan,
    sections=(Section(ScanConfig, "scan"),),
)
GATHER = Command(
    name="gather",
    help="Concatenate genome-scan parts into one table.",
    epilog="example:\n  genomix gather scan/part1.tsv scan/part2.tsv -o scan.tsv",
    add_arguments=add_gather_arguments,
    run=run_gather,
)
