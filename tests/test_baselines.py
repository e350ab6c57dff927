"""Baselines: k-mer features and one-hot by hand, the fine-tuning rows, planted signals, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DEMO, PROMOTERS, TINY_MODEL
from sklearn.metrics import roc_auc_score

import genomix.baselines
import genomix.data.rows
import genomix.finetune
from genomix.baselines import (
    BASELINES,
    finetune_rows,
    kmer_frequencies,
    one_hot,
    train_baselines,
    train_cnn,
    train_kmer_lr,
)
from genomix.cli import main
from genomix.config import FinetuneConfig, TokenizeConfig, load_schema
from genomix.data.labels import build_chromatin_table
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.seqio.fasta import read_fasta_records


def test_kmer_frequencies_by_hand() -> None:
    # ACGTA at k=2: AC, CG, GT, TA once each; ids are base-4 values (A0 C1 G2 T3): AC = 1,
    # CG = 6, GT = 11, TA = 12. In ACNGT the k-mers CN and NG are left out: AC and GT, 1/2 each.
    frequencies = kmer_frequencies(["ACGTA", "ACNGT", "NN"], 2)
    assert frequencies.shape == (3, 16)
    assert np.flatnonzero(frequencies[0]).tolist() == [1, 6, 11, 12]
    assert frequencies[0, [1, 6, 11, 12]] == pytest.approx([0.25] * 4)
    assert frequencies[1, [1, 11]] == pytest.approx([0.5, 0.5]) and frequencies[1].sum() == 1
    assert frequencies[2].sum() == 0  # no ACGT k-mer at all


def test_one_hot_by_hand() -> None:
    x = one_hot(["ACGTN", "GA"], 6)
    assert x.shape == (2, 4, 6)
    assert x[0].T.tolist() == [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
        [0, 0, 0, 0],  # N
        [0, 0, 0, 0],  # padding
    ]
    assert x[1].argmax(dim=0)[:2].tolist() == [2, 0] and x[1, :, 2:].sum() == 0
    assert torch.equal(one_hot(["acgtn", "gA"], 6), x)  # soft-masked bases count as bases
    with pytest.raises(GenomixError, match="a 5 bp sequence is longer than the cnn's 4 bp input"):
        one_hot(["ACGTN"], 4)


def test_baseline_rows_are_the_fine_tuning_rows(
    promoter_table: LabeledTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record what fine-tuning samples (chromatin task: positive enrichment) and compare."""
    sampled: list[LabeledTable] = []
    cap_rows = genomix.data.rows.cap_rows

    def recording(*args, **kwargs):
        sampled.append(cap_rows(*args, **kwargs))
        return sampled[-1]

    monkeypatch.setattr(genomix.data.rows, "cap_rows", recording)
    config = FinetuneConfig(
        epochs=1, batch_size=16, max_train_rows=40, max_eval_rows=24, seed=5, device="cpu"
    )
    genomix.finetune.finetune(
        promoter_table,
        tmp_path / "m",
        task="chromatin",
        config=config,
        model_config=TINY_MODEL,
        tokenize_config=TokenizeConfig(k=3, stride=1),
        progress=False,
    )
    train, valid = finetune_rows(
        promoter_table, task="chromatin", max_train_rows=40, max_eval_rows=24, seed=5
    )
    assert [train.ids, valid.ids] == [sampled[0].ids, sampled[1].ids]
    assert len(train) == 40 and len(valid) == 24
    assert train.labels.sum() == 20  # positives fill half of the capped sample


def _planted(n: int, seed: int, motif: str = "GGGCCCGGG") -> LabeledTable:
    """Random 80-bp sequences; positives carry `motif` at a random place."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], rng.random(n) < 0.5
    for positive in labels:
        bases = list(rng.choice(list("ACGT"), 80))
        if positive:
            start = int(rng.integers(0, 80 - len(motif)))
            bases[start : start + len(motif)] = motif
        sequences.append("".join(bases))
    return LabeledTable(
        sequences=sequences,
        labels=labels[:, None].astype(np.float32),
        profiles=("motif",),
        split=np.full(n, "train", dtype=object),
        ids=[str(i) for i in range(n)],
    )


def test_kmer_lr_finds_a_planted_motif() -> None:
    train, valid, test = _planted(300, 0), _planted(100, 1), _planted(200, 2)
    predict = train_kmer_lr(train, valid, k=3)
    probabilities = predict(test.sequences)
    assert probabilities.shape == (200, 1)
    assert roc_auc_score(test.labels[:, 0], probabilities[:, 0]) > 0.9


def test_cnn_finds_a_planted_motif_and_is_seeded(one_thread) -> None:
    train, valid, test = _planted(400, 0), _planted(100, 1), _planted(200, 2)
    probabilities = train_cnn(train, valid, length=80, epochs=12, seed=0)(test.sequences)
    assert roc_auc_score(test.labels[:, 0], probabilities[:, 0]) > 0.75  # chance: 0.5
    first = train_cnn(train, valid, length=80, epochs=2, seed=0)(test.sequences)
    again = train_cnn(train, valid, length=80, epochs=2, seed=0)(test.sequences)
    np.testing.assert_array_equal(first, again)
    state = torch.random.get_rng_state()
    train_cnn(train, valid, length=80, epochs=1, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone


def test_cnn_is_not_constant_on_real_chromatin_windows(one_thread) -> None:
    """On the demo's 1-kb dm3 windows, every hidden unit of the dense layer once went negative
    for every input: a constant output and AUROC 0.500 on all 8 profiles. One epoch showed it."""
    profiles = tuple(
        f"{protein}_{cells}"
        for protein in ("BEAF", "CTCF", "Cp190", "SuHw")
        for cells in ("Kc", "Mbn2")
    )
    peaks = {name: DEMO / "dm3_peaks" / f"{name}.bed.gz" for name in profiles}
    fasta = DEMO / "dm3_segments.fa.gz"
    windows = build_chromatin_table(fasta, peaks, valid_chroms=("chrX",), test_chroms=("chr3L",))
    genome = dict(read_fasta_records(fasta))
    table = LabeledTable(
        sequences=[genome[c][s:e] for c, s, e in windows[["chrom", "start", "end"]].values],
        labels=windows[list(profiles)].to_numpy(np.float32),
        profiles=profiles,
        split=windows["split"].to_numpy(object),
        ids=[str(i) for i in range(len(windows))],
    )
    train, valid = finetune_rows(
        table, task="chromatin", max_train_rows=2000, max_eval_rows=1000, seed=0
    )
    probabilities = train_cnn(train, valid, length=1000, epochs=1, seed=0)(valid.sequences)
    assert (probabilities.std(axis=0) > 1e-3).all(), probabilities.std(axis=0)


def test_the_schema_lists_the_registered_baselines() -> None:
    """config.yaml's evaluate.baselines accepts exactly the names of the registry."""
    schema = load_schema()["properties"]["evaluate"]["properties"]["baselines"]
    assert schema["items"]["enum"] == list(BASELINES)


def test_a_registered_baseline_is_trained_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """train_baselines looks each name up in BASELINES and hands the trainer its settings."""
    seen = []

    def constant(train, valid, settings):
        seen.append(settings)
        return lambda sequences: np.full((len(sequences), 1), 0.5, dtype=np.float32)

    monkeypatch.setitem(genomix.baselines.BASELINES, "constant", constant)
    table = _planted(10, 0)
    trained = train_baselines(["constant"], table, table, kmer_k=2, cnn_epochs=1, length=80, seed=3)
    assert trained["constant"](["ACGT"]).tolist() == [[0.5]]
    assert [(s.kmer_k, s.cnn_epochs, s.length, s.seed) for s in seen] == [(2, 1, 80, 3)]


def test_unknown_baseline_is_named() -> None:
    table = _planted(10, 0)
    with pytest.raises(GenomixError, match=r"unknown baseline\(s\) svm"):
        train_baselines(["svm"], table, table, kmer_k=2, cnn_epochs=1, length=80, seed=0)


def test_evaluate_puts_baselines_beside_the_transformer(
    promoter_model: Path, tmp_path: Path
) -> None:
    metrics, predictions = tmp_path / "metrics.tsv", tmp_path / "predictions.tsv.gz"
    argv = ["evaluate", "--model", str(promoter_model), "--table", str(PROMOTERS)]
    argv += ["--out", str(metrics), "--predictions", str(predictions), "--max-rows", "40"]
    argv += ["--device", "cpu", "--baselines", "kmer_lr", "cnn", "--cnn-epochs", "1"]
    assert main([*argv, "--bootstrap", "20", "--kmer-k", "2"]) == 0
    table = pd.read_csv(metrics, sep="\t").set_index("profile")
    for column in ("auroc", "auroc_kmer_lr", "auroc_cnn", "f1_cnn", "delta_mcc_kmer_lr"):
        assert {column, f"{column}_lo", f"{column}_hi"} <= set(table.columns)
    assert {"threshold", "threshold_kmer_lr", "threshold_cnn"} <= set(table.columns)
    row = table.loc["promoter"]
    assert row["delta_auroc_cnn"] == pytest.approx(row["auroc"] - row["auroc_cnn"], abs=1e-5)
    scores = pd.read_csv(predictions, sep="\t")
    assert scores.columns.tolist() == ["id", "profile", "label", "transformer", "kmer_lr", "cnn"]
    assert len(scores) == 40 and scores["label"].sum() == row["n_pos"]
    assert row["auroc_kmer_lr"] == pytest.approx(
        roc_auc_score(scores["label"], scores["kmer_lr"]), abs=1e-5
    )


def test_evaluate_refuses_an_unknown_baseline_flag(
    promoter_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--model", str(promoter_model), "--table", str(PROMOTERS)]
    argv += ["--out", str(tmp_path / "m.tsv"), "--baselines", "svm"]
    assert main(argv) == 1
    assert "evaluate.baselines.0: 'svm' is not one of" in capsys.readouterr().err


def test_evaluate_compares_another_model_of_the_same_task(
    promoter_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--compare scratch=DIR scores DIR on the same rows: a model compared with itself gains 0."""
    metrics, predictions = tmp_path / "metrics.tsv", tmp_path / "predictions.tsv.gz"
    argv = ["evaluate", "--model", str(promoter_model), "--table", str(PROMOTERS)]
    argv += ["--out", str(metrics), "--predictions", str(predictions), "--max-rows", "40"]
    argv += ["--device", "cpu", "--bootstrap", "20", "--compare", f"scratch={promoter_model}"]
    assert main(argv) == 0
    row = pd.read_csv(metrics, sep="\t").set_index("profile").loc["promoter"]
    assert row["auroc_scratch"] == row["auroc"]
    assert row["delta_auroc_scratch"] == row["delta_auroc_scratch_lo"] == 0.0
    assert row["threshold_scratch"] == row["threshold"]
    scores = pd.read_csv(predictions, sep="\t")
    assert scores.columns.tolist() == ["id", "profile", "label", "transformer", "scratch"]
    assert main([*argv[:-1], "nameless"]) == 1
    assert "--compare: 'nameless' is not NAME=PATH" in capsys.readouterr().err
