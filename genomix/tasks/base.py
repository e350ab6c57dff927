"""The task interface, its registry, and the names older model directories and configs use.

A task kind owns what differs between heads: which table columns are its labels, whether a
capped training sample is enriched for positive rows, whether it makes calls at a threshold
chosen on the validation rows, the metrics of its table, and its section of the run report.
The rest of the code looks a kind up with `get_task(name)` instead of comparing names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

import pandas as pd

from genomix.errors import GenomixError

# Model directories and configs written before the registry name their task by its first head.
LEGACY_NAMES = {"promoter": "binary", "chromatin": "multilabel"}
METRICS = ("auroc", "auprc")
CALL_METRICS = ("f1", "mcc", "accuracy")


class Task(ABC):
    """One task kind. Subclasses set the class attributes and are registered with
    `register_task`.

    Attributes:
        name: the kind's name in configs, `genomix finetune --task` and model directories.
        enrich_positives: a capped training sample fills up to half of it with rows that have a
            positive label (rare outputs keep positives).
        makes_calls: calls at a per-output threshold chosen on the validation rows (F1, MCC,
            accuracy in the metrics table).
    """

    name: ClassVar[str]
    enrich_positives: ClassVar[bool]
    makes_calls: ClassVar[bool]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The transformer's metric columns in `genomix evaluate`'s table."""
        return METRICS + (CALL_METRICS if self.makes_calls else ())

    @abstractmethod
    def label_columns(self, names: Sequence[str], path: Path) -> tuple[list[str], tuple[str, ...]]:
        """The label columns among a table's column `names`, and the P output (profile) names;
        GenomixError naming `path` when the table has none."""

    @abstractmethod
    def verdict_row(self, head: str, metrics: pd.DataFrame) -> tuple[str, str]:
        """The `profile` of the metrics table's row the verdict is about, and how the verdict
        names it."""

    @abstractmethod
    def report_section(self, head: str, metrics: pd.DataFrame, out: Path) -> list[str]:
        """Markdown paragraphs of the head's section of the report `out` (plots beside it)."""

    @abstractmethod
    def curve_panels(
        self, head: str, metrics: pd.DataFrame, predictions: pd.DataFrame
    ) -> list[tuple[str, pd.DataFrame]]:
        """(title, predictions of one output) panels of the head's ROC and PR curves."""


TASKS: dict[str, Task] = {}
T = TypeVar("T", bound=type[Task])


def register_task(cls: T) -> T:
    """Class decorator: put one instance of the task kind in `TASKS` under its `name`."""
    if cls.name in TASKS or cls.name in LEGACY_NAMES:
        raise ValueError(f"task kind {cls.name!r} is registered twice")
    TASKS[cls.name] = cls()
    return cls


def get_task(name: str) -> Task:
    """The task kind called `name` (a legacy head name maps to its kind)."""
    task = TASKS.get(LEGACY_NAMES.get(name, name))
    if task is None:
        raise GenomixError(f"unknown task {name!r} (expected one of {', '.join(sorted(TASKS))})")
    return task
