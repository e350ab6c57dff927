"""`genomix explain`: which bases drive a prediction, with sequence logos and tracks."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.commands.command import Command, Section
from genomix.commands.options import add_format, add_progress, count, report_skip
from genomix.config import ExplainConfig, config_from_arguments
from genomix.errors import GenomixError


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the records (FASTA, BED, VCF or top table rows) and the outputs of explain."""
    parser.add_argument("model", type=Path, help="fine-tuned model directory")
    parser.add_argument(
        "fasta", type=Path, nargs="?", help="FASTA (plain or gzipped); or give --bed and --genome"
    )
    parser.add_argument("--bed", type=Path, help="BED intervals to explain (strand-aware)")
    parser.add_argument(
        "--vcf", type=Path, help="VCF: explain the ref and alt windows predict-variants scores"
    )
    parser.add_argument(
        "--genome", type=Path, help="indexed FASTA of --bed, --vcf or --table coordinates"
    )
    parser.add_argument(
        "--table", type=Path, help="labeled table whose top-scoring rows to explain (workflow)"
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        help="`genomix evaluate --predictions` TSV ranking --table rows",
    )
    # --top and --logo pick records and output files; the workflow sets both from explain.records
    parser.add_argument(
        "--top",
        type=count(1),
        default=1,
        help="with --table: the rows of the N highest scores of each output (default 1)",
    )
    parser.add_argument(
        "-o", "--out", required=True, type=Path, help="output table (.parquet, or .tsv)"
    )
    add_format(parser)
    parser.add_argument(
        "--logo",
        type=count(0),
        default=0,
        metavar="N",
        help="draw the N highest-scoring records of each output as sequence logos (default 0)",
    )
    parser.add_argument(
        "--logo-dir",
        type=Path,
        help="folder of the logo PNGs, one per output (default: OUT with suffix .logos)",
    )
    parser.add_argument(
        "--tracks",
        type=Path,
        metavar="DIR",
        help="with --bed: write each output's importance as DIR/<output>.bedGraph",
    )
    add_progress(parser)


def run_explain(args: argparse.Namespace) -> None:
    """Score every single-base change of each record; write the table, logos and tracks."""
    from genomix.explain import (
        explain_fasta,
        explain_records,
        explain_variants,
        top_predicted,
    )

    config = config_from_arguments(ExplainConfig, args, "explain")
    options = {
        "method": config.method,
        "max_length": config.max_length or None,
        "batch_size": config.batch_size,
        "device": config.device,
        "skip_invalid": config.skip_invalid,
        "progress": args.progress,
        "on_skip": report_skip,
        "output_format": args.format,
        "logo": args.logo,
        "logo_dir": args.logo_dir,
        "logo_width": config.logo_width,
        "tracks": args.tracks,
    }
    sources = [args.fasta, args.bed, args.vcf, args.table]
    if sum(source is not None for source in sources) != 1 or (args.table is None) != (
        args.predictions is None
    ):
        raise GenomixError(
            "explain: give a FASTA file, or --bed or --vcf with --genome, or --table with "
            "--predictions"
        )
    if args.table is not None:
        from genomix.checkpoint import read_classifier_metadata
        from genomix.data.tables import read_labeled_table

        metadata = read_classifier_metadata(args.model)
        table = read_labeled_table(
            args.table,
            task=metadata["task"],
            genome=args.genome,
            seed=metadata["finetune"]["seed"],
        )
        records = top_predicted(table, args.predictions, top=args.top)
        explain_records(args.model, records, args.table, args.out, **options)
    elif args.vcf is not None:
        if args.genome is None:
            raise GenomixError("explain: --vcf needs --genome (the FASTA of its positions)")
        explain_variants(args.model, args.vcf, args.genome, args.out, **options)
    else:
        if (args.bed is None) != (args.genome is None):
            raise GenomixError("explain: --bed needs --genome (the FASTA its intervals lie on)")
        explain_fasta(
            args.model,
            args.fasta if args.bed is None else args.genome,
            args.out,
            bed=args.bed,
            **options,
        )


EXPLAIN = Command(
    name="explain",
    help="Which bases drive a prediction: the logit change of every single-base change (ISM).",
    epilog="example:\n  genomix explain models/promoter promoters.fa -o ism.parquet --logo 4\n"
    "  genomix explain models/chromatin --bed peaks.bed --genome dm3.fa -o ism.parquet "
    "--method gradient\n"
    "  genomix explain models/chromatin --vcf calls.vcf.gz --genome dm3.fa -o v.parquet --logo 3",
    add_arguments=add_explain_arguments,
    run=run_explain,
    sections=(Section(ExplainConfig, "explain"),),
)
