"""`genomix report` (a run's tables, plots and stage times in one Markdown file) and `genomix
sweep-table` (an attention/context sweep in one table and plot)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from genomix.commands.command import Command
from genomix.commands.options import count
from genomix.errors import GenomixError


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The metric tables, curves, benchmarks and explanations `genomix report` gathers."""
    parser.add_argument(
        "--heads",
        required=True,
        nargs="+",
        action="extend",
        metavar="HEAD=TASK",
        help="each head and its task kind (binary, multilabel), in report order (repeatable)",
    )
    parser.add_argument(
        "--metrics",
        required=True,
        nargs="+",
        action="extend",
        metavar="HEAD=TSV",
        help="each head's `genomix evaluate` metrics table (repeatable)",
    )
    parser.add_argument(
        "--predictions",
        nargs="+",
        action="extend",
        default=[],
        metavar="HEAD=TSV",
        help="a head's `genomix evaluate` predictions table: its ROC/PR curves (repeatable)",
    )
    parser.add_argument(
        "--pretrain-metrics",
        required=True,
        nargs="+",
        type=Path,
        help="metrics.csv of each pretrained encoder (one shared, or one per head)",
    )
    parser.add_argument(
        "--benchmarks",
        nargs="*",
        type=Path,
        default=(),
        help="Snakemake benchmark files, one per stage",
    )
    parser.add_argument(
        "--finetune-metrics",
        nargs="*",
        default=(),
        metavar="HEAD=CSV",
        help="fine-tuning curves: a head's name and its model directory's metrics.csv",
    )
    parser.add_argument(
        "--explain",
        nargs="*",
        default=(),
        metavar="HEAD=TABLE",
        help="`genomix explain` tables (their logos beside them): a section with logos per head",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="report (.md)")


def _pairs(items: Sequence[str], flag: str, form: str, example: str) -> dict[str, str]:
    """HEAD=PATH items -> {head: path}; GenomixError naming `flag`, the `form` (``HEAD=CSV``)
    and an `example` for an item without both."""
    pairs = dict(item.partition("=")[::2] for item in items)
    if not all(pairs) or not all(pairs.values()):
        raise GenomixError(f"{flag}: give {form}, e.g. {example}")
    return pairs


def run_report(args: argparse.Namespace) -> None:
    """Write the run's report."""
    from genomix.report import write_report

    curves = _pairs(
        args.finetune_metrics, "--finetune-metrics", "HEAD=CSV", "promoter=model/metrics.csv"
    )
    write_report(
        args.out,
        heads=_pairs(args.heads, "--heads", "HEAD=TASK", "promoter=binary"),
        metrics=_pairs(args.metrics, "--metrics", "HEAD=TSV", "promoter=promoter_metrics.tsv"),
        pretrain_metrics=args.pretrain_metrics,
        predictions=_pairs(
            args.predictions, "--predictions", "HEAD=TSV", "promoter=promoter_predictions.tsv.gz"
        ),
        finetune_metrics=curves,
        benchmarks=args.benchmarks,
        explanations=_pairs(
            args.explain, "--explain", "HEAD=TABLE", "promoter=explain/promoter.parquet"
        ),
    )


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The variant folders, benchmarks, resamples and outputs of `genomix sweep-table` (the
    workflow takes --bootstrap from evaluate.bootstrap and --seed from finetune.seed)."""
    parser.add_argument(
        "variants",
        nargs="+",
        type=Path,
        help="one results folder per variant (pretrain/, promoter_metrics.tsv, "
        "chromatin_auroc.tsv, ...); its name names the variant",
    )
    parser.add_argument(
        "--benchmarks",
        nargs="+",
        required=True,
        type=Path,
        help="one Snakemake benchmark folder per variant, in the same order",
    )
    parser.add_argument(
        "--bootstrap",
        type=count(0),
        default=0,
        help="paired resamples of the common test bins for the interval of each longer "
        "context's AUROC gain (0 = none)",
    )
    parser.add_argument("--seed", type=count(0), default=0, help="seed of the resamples")
    parser.add_argument("--tsv", required=True, type=Path, help="table (.tsv)")
    parser.add_argument("--markdown", required=True, type=Path, help="table (.md)")
    parser.add_argument("--plot", required=True, type=Path, help="plot (.png)")


def run_sweep(args: argparse.Namespace) -> None:
    """Gather the variants' metrics and stage times into the table and the plot."""
    from genomix.sweep_report import write_sweep

    write_sweep(
        args.variants,
        args.benchmarks,
        tsv=args.tsv,
        markdown=args.markdown,
        plot=args.plot,
        bootstrap=args.bootstrap,
        seed=args.seed,
    )


REPORT = Command(
    name="report",
    help="Summarise a run: tables, plots, stage times.",
    epilog="example:\n  genomix report --heads promoter=binary chromatin=multilabel "
    "\\\n      --metrics promoter=promoter_metrics.tsv chromatin=chromatin_metrics.tsv "
    "\\\n      --pretrain-metrics models/pretrained/metrics.csv -o report.md",
    add_arguments=add_report_arguments,
    run=run_report,
)
SWEEP_TABLE = Command(
    name="sweep-table",
    help="Gather an attention/context sweep into one table and plot.",
    epilog="example:\n  genomix sweep-table results/sweep/dense results/sweep/bigbird "
    "\\\n      --benchmarks benchmarks/sweep/dense benchmarks/sweep/bigbird "
    "--tsv sweep.tsv --markdown sweep.md --plot sweep.png",
    add_arguments=add_sweep_arguments,
    run=run_sweep,
)
