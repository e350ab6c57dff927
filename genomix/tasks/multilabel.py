"""The multilabel kind (DeepSEA-style chromatin profiles): one 0/1 column per profile."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genomix.data.tables import METADATA_COLUMNS
from genomix.errors import GenomixError
from genomix.tasks.base import Task, register_task


@register_task
class MultilabelTask(Task):
    """Every column that is not metadata is a profile; rare profiles keep their positives in a
    capped training sample; scores only (no calls), summarised by the mean over profiles."""

    name = "multilabel"
    enrich_positives = True
    makes_calls = False

    def label_columns(self, names: Sequence[str], path: Path) -> tuple[list[str], tuple[str, ...]]:
        """The non-metadata columns, each one output."""
        columns = [c for c in names if c not in METADATA_COLUMNS]
        if not columns:
            raise GenomixError(f"{path}: {self.name} task needs at least one 0/1 profile column")
        return columns, tuple(columns)

    def verdict_row(self, head: str, metrics: pd.DataFrame) -> tuple[str, str]:
        """The mean over profiles."""
        return "mean", f"{head} (mean over profiles)"

    def report_section(self, head: str, metrics: pd.DataFrame, out: Path) -> list[str]:
        """Mean AUROC/AUPRC, per-profile tables of both beside baselines, the AUROC dot plot
        (`<stem>_<head>_auroc.png`)."""
        from genomix.report import comparison_table, plot_profile_auroc, verdict

        png = plot_profile_auroc(metrics, out.with_name(f"{out.stem}_{head}_auroc.png"))
        mean = metrics.set_index("profile").loc["mean"]
        return [
            f"## {head} profiles (held-out chromosomes)",
            f"Mean AUROC {mean['auroc']:.3f}, mean AUPRC {mean['auprc']:.3f} ({mean['note']}). "
            + verdict(mean["auroc"]),
            "AUROC per profile (95% bootstrap intervals in brackets when computed):",
            comparison_table(metrics, "auroc"),
            f"![per-profile AUROC]({png.name})",
            "AUPRC per profile:",
            comparison_table(metrics, "auprc"),
        ]

    def curve_panels(
        self, head: str, metrics: pd.DataFrame, predictions: pd.DataFrame
    ) -> list[tuple[str, pd.DataFrame]]:
        """The profiles with the best and the worst AUROC of the transformer."""
        from genomix.report import profile_rows

        scored = profile_rows(metrics).dropna(subset=["auroc"])
        scored = scored.sort_values("auroc", ascending=False)
        picks = [("best", scored.iloc[0]), ("worst", scored.iloc[-1])][: min(len(scored), 2)]
        return [
            (
                f"{head} {rank}: {row['profile']}",
                predictions[predictions["profile"] == row["profile"]],
            )
            for rank, row in picks
        ]
