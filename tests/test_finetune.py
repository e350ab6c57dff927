"""Fine-tuning: the saved head (its rows and class weights: test_rows.py)."""

from __future__ import annotations

from pathlib import Path

from genomix.checkpoint import read_metadata


def test_saved_head_records_what_predict_needs(promoter_model: Path) -> None:
    metadata = read_metadata(promoter_model)
    assert metadata["kind"] == "classifier"
    assert metadata["profiles"] == ["promoter"]
    assert 0.0 < metadata["thresholds"][0] < 1.0
    assert (promoter_model / "metrics.csv").read_text().startswith("epoch,step,train_loss")
