"""The binary kind (promoter vs not): one `label` column, calls at a validation threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genomix.errors import GenomixError
from genomix.tasks.base import Task, register_task


@register_task
class BinaryTask(Task):
    """One 0/1 `label` column, one output (named `promoter`, as model directories have it)."""

    name = "binary"
    enrich_positives = False
    makes_calls = True
    # The output's name in model directories and tables written before the registry.
    profile = "promoter"

    def label_columns(self, names: Sequence[str], path: Path) -> tuple[list[str], tuple[str, ...]]:
        """(["label"], ("promoter",)): the `label` column, one output."""
        if "label" not in names:
            raise GenomixError(f"{path}: {self.name} task needs a 'label' column")
        return ["label"], (self.profile,)

    def verdict_row(self, head: str, metrics: pd.DataFrame) -> tuple[str, str]:
        """The table's only output row, named by the head."""
        return metrics["profile"].iloc[0], head

    def report_section(self, head: str, metrics: pd.DataFrame, out: Path) -> list[str]:
        """One row per model with its AUROC, AUPRC and calls at its validation threshold."""
        from genomix.report import calls_table, verdict

        return [
            f"## {head} (test split)",
            calls_table(metrics),
            "F1, MCC and accuracy are at each model's threshold chosen on the validation split. "
            + verdict(metrics["auroc"].iloc[0]),
        ]

    def curve_panels(
        self, head: str, metrics: pd.DataFrame, predictions: pd.DataFrame
    ) -> list[tuple[str, pd.DataFrame]]:
        """The one output's curves, titled by the head."""
        first = predictions["profile"].iloc[0]
        return [(head, predictions[predictions["profile"] == first])]
