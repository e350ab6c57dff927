"""The labeled-table arguments that `genomix finetune` and `genomix evaluate` share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from genomix.errors import GenomixError

if TYPE_CHECKING:
    from genomix.data.tables import LabeledTable


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """--table, --genome (for tables with coordinates) and --deepsea-features."""
    parser.add_argument("--table", required=True, type=Path, help="labeled table (TSV/CSV)")
    parser.add_argument("--genome", type=Path, help="FASTA for tables with coordinates")
    parser.add_argument(
        "--deepsea-features",
        type=Path,
        metavar="FEATURES.tsv",
        help="read --table as a DeepSEA-layout CSV (no header: sequence, then one 0/1 label per "
        "row of this features TSV), split by contiguous row blocks 80/10/10 (smoke tests only); "
        "or as a directory of DeepSEA's own train/valid/test files (.mat or CSV), its split",
    )


def read_table(
    args: argparse.Namespace, *, task: str, seed: int, stream: bool = False
) -> LabeledTable:
    """The labeled table of `finetune`/`evaluate`: --table, in DeepSEA layout with
    --deepsea-features (then split by contiguous row blocks, not by `seed`); `stream` keeps a
    coordinate table as coordinates (`read_labeled_table`)."""
    if args.deepsea_features is None:
        from genomix.data.tables import read_labeled_table

        return read_labeled_table(
            args.table, task=task, genome=args.genome, seed=seed, stream=stream
        )
    from genomix.data.deepsea import read_deepsea_table
    from genomix.tasks import TASKS, get_task

    if get_task(task) is not TASKS["multilabel"]:
        raise GenomixError(
            f"--deepsea-features: DeepSEA tables are chromatin profiles, not task '{task}'"
        )
    if args.genome is not None:
        raise GenomixError(
            "--genome: a DeepSEA-layout table carries its sequences; drop --genome or "
            "--deepsea-features"
        )
    return read_deepsea_table(args.table, args.deepsea_features)
