"""Fine-tuning policy: row sampling, class weights, the saved head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genomix.checkpoint import read_metadata
from genomix.data.tables import LabeledTable
from genomix.finetune import _positive_weight, cap_rows


def _table(labels: np.ndarray) -> LabeledTable:
    n = len(labels)
    return LabeledTable(
        sequences=["ACGT"] * n,
        labels=labels,
        profiles=("a", "b")[: labels.shape[1]],
        split=np.array(["train"] * n),
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


def test_positive_weight_by_hand() -> None:
    labels = np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=np.float32)
    assert _positive_weight(labels).tolist() == pytest.approx([3.0, 3.0])


def test_saved_head_records_what_predict_needs(promoter_model: Path) -> None:
    metadata = read_metadata(promoter_model)
    assert metadata["kind"] == "classifier"
    assert metadata["profiles"] == ["promoter"]
    assert 0.0 < metadata["thresholds"][0] < 1.0
    assert (promoter_model / "metrics.csv").read_text().startswith("epoch,step,train_loss")
