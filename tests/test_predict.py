"""genomix predict: windows, aggregation, invariances, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import HUMAN

from genomix.checkpoint import load_classifier
from genomix.errors import GenomixError
from genomix.predict import predict_fasta, window_starts
from genomix.scoring import score_sequences


def test_window_starts_by_hand() -> None:
    assert window_starts(100, 300, 150) == [0]
    assert window_starts(300, 300, 150) == [0]
    assert window_starts(700, 300, 150) == [0, 150, 300, 400]


def _fasta(tmp_path: Path, records: dict[str, str]) -> Path:
    path = tmp_path / "input.fa"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path


def test_short_record_is_one_window(promoter_model: Path, promoter_table, tmp_path: Path) -> None:
    sequence = promoter_table.sequences[0]
    out = tmp_path / "out.tsv"
    predict_fasta(promoter_model, _fasta(tmp_path, {"p0": sequence[:200]}), out, device="cpu")
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["id", "length", "start", "end", "promoter"]
    assert table.iloc[0][["id", "length", "start", "end"]].tolist() == ["p0", 200, 0, 200]
    model, tokenizer, _ = load_classifier(promoter_model)
    expected = score_sequences(model, tokenizer, [sequence[:200]], batch_size=1, device="cpu")
    assert table["promoter"].iloc[0] == pytest.approx(expected[0, 0], abs=1e-6)


def test_windows_aggregate_to_the_max(promoter_model: Path, promoter_table, tmp_path: Path) -> None:
    sequence = "".join(promoter_table.sequences[:3])  # 900 bp -> windows at 0, 150, ..., 600
    fasta = _fasta(tmp_path, {"long": sequence})
    predict_fasta(promoter_model, fasta, tmp_path / "w.tsv", per_window=True, device="cpu")
    predict_fasta(promoter_model, fasta, tmp_path / "r.tsv", device="cpu")
    windows = pd.read_csv(tmp_path / "w.tsv", sep="\t")
    record = pd.read_csv(tmp_path / "r.tsv", sep="\t")
    assert windows["start"].tolist() == [0, 150, 300, 450, 600]
    assert (windows["end"] - windows["start"]).eq(300).all()
    assert record["promoter"].iloc[0] == pytest.approx(windows["promoter"].max(), abs=1e-6)
    model, tokenizer, _ = load_classifier(promoter_model)
    direct = score_sequences(model, tokenizer, [sequence[300:600]], batch_size=1, device="cpu")
    assert windows["promoter"].iloc[2] == pytest.approx(direct[0, 0], abs=1e-6)


def test_batch_size_does_not_change_output(promoter_model: Path, tmp_path: Path) -> None:
    outputs = []
    for batch_size in (1, 8):
        out = tmp_path / f"b{batch_size}.tsv"
        predict_fasta(
            promoter_model,
            HUMAN,
            out,
            batch_size=batch_size,
            stride=100_000,
            per_window=True,
            device="cpu",
        )
        outputs.append(pd.read_csv(out, sep="\t"))
    assert len(outputs[0]) == 11  # 1 Mb in 300 bp windows at 0, 100 kb, ..., 900 kb, and the end
    np.testing.assert_allclose(outputs[0]["promoter"], outputs[1]["promoter"], atol=1e-6)


def test_invalid_record_stops_or_is_skipped(promoter_model: Path, tmp_path: Path) -> None:
    fasta = _fasta(tmp_path, {"good": "ACGT" * 50, "bad": "ACGTZZ" * 10, "also_good": "GATC" * 60})
    with pytest.raises(
        GenomixError, match="input.fa: record 'bad' position 5: invalid character 'Z'"
    ):
        predict_fasta(promoter_model, fasta, tmp_path / "out.tsv", device="cpu")
    assert not (tmp_path / "out.tsv").exists()
    skipped: list[str] = []
    predict_fasta(
        promoter_model,
        fasta,
        tmp_path / "out.tsv",
        device="cpu",
        skip_invalid=True,
        on_skip=skipped.append,
    )
    assert pd.read_csv(tmp_path / "out.tsv", sep="\t")["id"].tolist() == ["good", "also_good"]
    assert len(skipped) == 1 and "bad" in skipped[0]
