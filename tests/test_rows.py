"""Row selection and class weights shared by fine-tuning, the baselines and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomix.data.rows import (
    MAX_POSITIVE_WEIGHT,
    cap_rows,
    positive_weight,
    rows_digest,
    training_rows,
)
from genomix.data.tables import LabeledTable


def _table(labels: np.ndarray, split: list[str] | None = None) -> LabeledTable:
    n = len(labels)
    return LabeledTable(
        sequences=["ACGT"] * n,
        labels=labels,
        profiles=("a", "b")[: labels.shape[1]],
        split=np.array(split or ["train"] * n),
        ids=[str(i) for i in range(n)],
    )


def test_capped_sample_keeps_negatives_and_rare_positives() -> None:
    labels = np.zeros((1000, 2), dtype=np.float32)
    labels[:30, 0] = 1  # a rare profile: 3% positives
    generator = torch.Generator().manual_seed(0)
    enriched = cap_rows(_table(labels), 100, generator, enrich_positives=True)
    assert len(enriched) == 100 and enriched.labels[:, 0].sum() == 30
    assert (~enriched.labels.any(axis=1)).sum() == 70  # background rows are kept
    plain = cap_rows(_table(labels), 100, generator)
    assert len(plain) == 100 and plain.labels[:, 0].sum() < 30
    assert len(cap_rows(_table(labels), 0, generator)) == 1000


def test_training_rows_draw_train_then_valid_from_one_generator() -> None:
    labels = np.zeros((30, 1), dtype=np.float32)
    table = _table(labels, ["train"] * 20 + ["valid"] * 10)
    train, valid = training_rows(
        table,
        task="promoter",
        max_train_rows=5,
        max_eval_rows=4,
        generator=torch.Generator().manual_seed(3),
    )
    generator = torch.Generator().manual_seed(3)
    expected_train = cap_rows(table.subset("train"), 5, generator)
    expected_valid = cap_rows(table.subset("valid"), 4, generator)
    assert train.ids == expected_train.ids and valid.ids == expected_valid.ids
    assert set(train.split) == {"train"} and set(valid.split) == {"valid"}


def test_positive_weight_by_hand() -> None:
    labels = np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=np.float32)
    weight = positive_weight(labels)
    assert weight.dtype == torch.float32 and weight.shape == (2,)
    assert weight.tolist() == pytest.approx([3.0, 3.0])


def test_positive_weight_of_uint8_labels_equals_float32() -> None:
    """A streamed table's labels are uint8 (300 positives: more than a uint8 sum holds)."""
    labels = np.zeros((1000, 2), dtype=np.uint8)
    labels[:300, 0] = 1
    labels[:30, 1] = 1
    weight = positive_weight(labels)
    assert weight.dtype == torch.float32
    assert torch.equal(weight, positive_weight(labels.astype(np.float32)))
    assert weight.tolist() == pytest.approx([700 / 300, 970 / 30])


def test_positive_weight_is_capped_and_counts_no_positives_as_one() -> None:
    labels = np.zeros((1000, 2), dtype=np.float32)
    labels[0, 0] = 1  # 999 negatives per positive
    assert positive_weight(labels).tolist() == [MAX_POSITIVE_WEIGHT, MAX_POSITIVE_WEIGHT]
    assert positive_weight(labels[:5]).tolist() == [4.0, 5.0]


def test_rows_digest_follows_rows_labels_and_order() -> None:
    labels = np.array([[1, 0], [0, 1]], dtype=np.float32)
    a, b = _table(labels[:1]), _table(labels[1:])
    assert rows_digest(a, b) == rows_digest(_table(labels[:1].copy()), b)
    assert rows_digest(a, b) != rows_digest(b, a)
    flipped = labels[:1].copy()
    flipped[0, 1] = 1
    assert rows_digest(a, b) != rows_digest(_table(flipped), b)
