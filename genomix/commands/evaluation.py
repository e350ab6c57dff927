"""`genomix evaluate`: metrics per profile on a table's held-out rows, beside other models."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.commands.command import Command, Section
from genomix.commands.options import named_paths
from genomix.commands.tables import add_table_arguments, read_table
from genomix.config import EvaluateConfig, config_from_arguments


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the table, the models compared and the outputs of `genomix evaluate`."""
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    add_table_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="metrics TSV")
    parser.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="NAME=DIR",
        help="other fine-tuned model directories of the same task, scored on the same rows "
        "(e.g. scratch=models/promoter_scratch: the gain of pretraining, with paired intervals)",
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        metavar="TSV",
        help="also write every model's probability per (row, profile), for ROC/PR curves",
    )


def run_evaluate(args: argparse.Namespace) -> None:
    """Score the model (and those of --compare) on the split's rows; write the metrics."""
    from genomix.checkpoint import read_classifier_metadata
    from genomix.evaluate import metrics_table, predictions_table, score_models
    from genomix.seqio.atomic import write_tsv

    config = config_from_arguments(EvaluateConfig, args, "evaluate")
    metadata = read_classifier_metadata(args.model)
    # The split must be the one fine-tuning used, or test rows may have been trained on.
    seed = metadata["finetune"]["seed"] if config.seed is None else config.seed
    table = read_table(args, task=metadata["task"], seed=seed)
    scores = score_models(
        args.model,
        table,
        split=config.split,
        max_rows=config.max_rows,
        seed=seed,
        batch_size=config.batch_size,
        device=config.device,
        config=config,
        compare=named_paths(args.compare, "--compare"),
    )
    write_tsv(metrics_table(scores, bootstrap=config.bootstrap, seed=seed), args.out)
    if args.predictions is not None:
        write_tsv(predictions_table(scores), args.predictions)


EVALUATE = Command(
    name="evaluate",
    help="Metrics per profile on a table's test rows.",
    epilog="example:\n  genomix evaluate --model models/promoter --table promoters.tsv.gz "
    "--out metrics.tsv",
    add_arguments=add_evaluate_arguments,
    run=run_evaluate,
    sections=(Section(EvaluateConfig, "evaluate"),),
)
