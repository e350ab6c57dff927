"""genomix predict: windows, aggregation, invariances, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import HUMAN

from genomix.checkpoint import load_classifier
from genomix.errors import GenomixError
from genomix.fasta import read_fasta
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
    human = next(read_fasta(HUMAN)).sequence
    fasta = _fasta(tmp_path, {"chr20_a": human[100_000:103_000], "chr20_b": human[500_000:500_950]})
    outputs = []
    for batch_size in (1, 8):
        out = tmp_path / f"b{batch_size}.tsv"
        predict_fasta(
            promoter_model,
            fasta,
            out,
            batch_size=batch_size,
            stride=200,
            per_window=True,
            device="cpu",
        )
        outputs.append(pd.read_csv(out, sep="\t"))
    # 3,000 bp: windows at 0, 200, ..., 2,600 and 2,700; 950 bp: 0, 200, 400, 600 and 650.
    assert len(outputs[0]) == 15 + 5
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


def test_score_does_not_depend_on_batch_neighbours(promoter_model: Path, tmp_path: Path) -> None:
    fasta = _fasta(tmp_path, {"short": "ACGTTGCA" * 20, "long": "GATTACA" * 60})
    (tmp_path / "alone").mkdir()
    alone = _fasta(tmp_path / "alone", {"short": "ACGTTGCA" * 20})
    predict_fasta(promoter_model, fasta, tmp_path / "both.tsv", batch_size=8, device="cpu")
    predict_fasta(promoter_model, alone, tmp_path / "alone.tsv", batch_size=8, device="cpu")
    both = pd.read_csv(tmp_path / "both.tsv", sep="\t").set_index("id")
    single = pd.read_csv(tmp_path / "alone.tsv", sep="\t").set_index("id")
    assert both.loc["short", "promoter"] == single.loc["short", "promoter"]


def test_short_records_and_bad_options(promoter_model: Path, tmp_path: Path) -> None:
    fasta = _fasta(tmp_path, {"tiny": "AC", "fine": "ACGT" * 40})
    with pytest.raises(GenomixError, match="record 'tiny' is 2 bp, shorter than one 3-mer"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", device="cpu")
    skipped: list[str] = []
    predict_fasta(
        promoter_model,
        fasta,
        tmp_path / "o.tsv",
        device="cpu",
        skip_invalid=True,
        on_skip=skipped.append,
    )
    assert pd.read_csv(tmp_path / "o.tsv", sep="\t")["id"].tolist() == ["fine"]
    assert "tiny" in skipped[0]
    with pytest.raises(GenomixError, match="stride must be 1 to 300 bases"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", stride=301, device="cpu")
    with pytest.raises(GenomixError, match="stride must be 1 to 300 bases"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", stride=0, device="cpu")
    with pytest.raises(GenomixError, match="batch size must be at least 1"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", batch_size=0, device="cpu")
