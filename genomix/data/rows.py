"""Which rows of a labelled table a model trains, validates and is judged on, and their weights.

Fine-tuning, the baselines and evaluation all draw their rows here, with generators seeded from
the same options, so every model of a comparison sees exactly the same rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from genomix.data.tables import LabeledTable
from genomix.tasks import get_task

# Cap on the BCE positive weight: a profile with 1 positive in 10,000 rows would otherwise weigh
# that one row 10,000 times and dominate the gradient.
MAX_POSITIVE_WEIGHT = 100.0


def training_rows(
    table: LabeledTable,
    *,
    task: str,
    max_train_rows: int,
    max_eval_rows: int,
    generator: torch.Generator,
) -> tuple[LabeledTable, LabeledTable]:
    """The (train, valid) rows fine-tuning uses: each split capped, train first, then valid, from
    `generator` (seeded with `finetune.seed`); `genomix.baselines` draws the same rows with it.

    A task kind with rare outputs (multilabel: 1-5% positives per profile) keeps their positives
    in a capped training sample (`Task.enrich_positives`).
    """
    train = cap_rows(
        table.subset("train"),
        max_train_rows,
        generator,
        enrich_positives=get_task(task).enrich_positives,
    )
    valid = cap_rows(table.subset("valid"), max_eval_rows, generator)
    return train, valid


def cap_rows(
    table: LabeledTable, limit: int, generator: torch.Generator, *, enrich_positives: bool = False
) -> LabeledTable:
    """At most `limit` rows (0 = all), a seeded sample.

    With `enrich_positives`, rows with any positive label fill up to half of the sample before
    the rest is drawn from the other rows, so rare profiles keep positives and the sample keeps
    all-negative background rows.
    """
    n = len(table.sequences)
    if limit == 0 or n <= limit:
        return table
    order = torch.randperm(n, generator=generator).numpy()
    if enrich_positives:
        has_positive = table.labels[order].any(axis=1)
        positives = order[has_positive][: limit // 2]
        others = order[~np.isin(order, positives)][: limit - len(positives)]
        order = np.concatenate([positives, others])
    return table.subset(np.sort(order[:limit]))


def rows_digest(*tables: LabeledTable) -> str:
    """SHA-256 (hex) of the tables' profiles, sequences and labels, in order."""
    digest = hashlib.sha256()
    for table in tables:
        digest.update(("\t".join(table.profiles) + f"\n{len(table)}\n").encode())
        for sequence in table.sequences:
            digest.update(sequence.encode() + b"\n")
        digest.update(np.ascontiguousarray(table.labels, dtype=np.float32).tobytes())
    return digest.hexdigest()


def positive_weight(labels: np.ndarray) -> torch.Tensor:
    """BCE `pos_weight` for labels (N, P) 0/1: (P,) float32 negatives / positives per output,
    at most MAX_POSITIVE_WEIGHT, so rare profiles are not ignored.

    A profile without positives counts as having one, so its weight is N (capped too). uint8
    labels (a streamed table's) give the same weights as float32 ones.
    """
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    weight = negatives / np.maximum(positives, 1.0)
    return torch.from_numpy(weight).float().clamp(max=MAX_POSITIVE_WEIGHT)
