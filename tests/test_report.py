"""The run report: verdict against baselines, tables with intervals, plots; old tables too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from genomix import report
from genomix.cli import main
from genomix.data.tables import LabeledTable
from genomix.evaluate import HeldOutScores, metrics_table, predictions_table
from genomix.report import comparison_table, write_report
from genomix.seqio.atomic import write_tsv

DATA = Path(__file__).parent / "data"


def _held_out(labels: np.ndarray, probabilities: dict, thresholds=None) -> HeldOutScores:
    n, p = labels.shape
    profiles = ("promoter",) if thresholds else tuple(f"p{j}" for j in range(p))
    rows = LabeledTable(
        sequences=["ACGT"] * n,
        labels=labels.astype(np.float32),
        profiles=profiles,
        split=np.full(n, "test", dtype=object),
        ids=[f"r{i}" for i in range(n)],
    )
    return HeldOutScores(rows, "test", probabilities, thresholds)


def _run(tmp_path: Path, *, transformer_noise: float, kmer_noise: float) -> Path:
    """Metrics and predictions of a chromatin (3 profiles) and a promoter run, then the report."""
    rng = np.random.default_rng(0)
    labels = (rng.random((200, 3)) < 0.3).astype(float)

    def noisy(scale: float) -> np.ndarray:
        return labels + rng.normal(0, scale, labels.shape)

    chromatin = _held_out(
        labels, {"transformer": noisy(transformer_noise), "kmer_lr": noisy(kmer_noise)}
    )
    promoter = _held_out(
        labels[:, :1],
        {"transformer": noisy(transformer_noise)[:, :1], "kmer_lr": noisy(kmer_noise)[:, :1]},
        thresholds={"transformer": [0.5], "kmer_lr": [0.5]},
    )
    for name, scores in (("chromatin", chromatin), ("promoter", promoter)):
        write_tsv(metrics_table(scores, bootstrap=50, seed=0), tmp_path / f"{name}.tsv")
        write_tsv(predictions_table(scores), tmp_path / f"{name}_predictions.tsv.gz")
    pd.DataFrame(
        {
            "step": [10, 20],
            "train_loss": [7.0, 6.0],
            "valid_loss": [7.2, 6.5],
            "valid_accuracy": [0.01, 0.02],
            "valid_perplexity": [1300.0, 665.0],
        }
    ).to_csv(tmp_path / "pretrain.csv", index=False)
    pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [0.7, 0.6], "valid_mean_auroc": [0.6, 0.7]}
    ).to_csv(tmp_path / "finetune.csv", index=False)
    argv = ["report", "--heads", "promoter=binary", "--heads", "chromatin=multilabel"]
    argv += ["--metrics", f"chromatin={tmp_path / 'chromatin.tsv'}"]
    argv += ["--metrics", f"promoter={tmp_path / 'promoter.tsv'}"]
    argv += ["--predictions", f"chromatin={tmp_path / 'chromatin_predictions.tsv.gz'}"]
    argv += ["--predictions", f"promoter={tmp_path / 'promoter_predictions.tsv.gz'}"]
    argv += ["--pretrain-metrics", str(tmp_path / "pretrain.csv")]
    argv += ["--finetune-metrics", f"chromatin={tmp_path / 'finetune.csv'}"]
    assert main([*argv, "-o", str(tmp_path / "report.md")]) == 0
    return tmp_path / "report.md"


def test_report_says_plainly_when_the_transformer_is_below_the_kmer_baseline(
    tmp_path: Path,
) -> None:
    report = _run(tmp_path, transformer_noise=1.0, kmer_noise=0.3).read_text()
    assert (
        "**On chromatin (mean over profiles) the transformer is worse than the k-mer LR "
        "baseline**: AUROC 0." in report
    )
    assert "**On promoter the transformer is worse than the k-mer LR baseline**" in report
    assert "which excludes 0" in report  # noise 1.0 against 0.3 on 200 rows is a clear gap
    header = next(line for line in report.splitlines() if line.startswith("| profile"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "profile",
        "positives",
        "negatives",
        "transformer",
        "k-mer LR",
        "transformer - k-mer LR",
        "note",
    ]
    for png in ("chromatin_auroc", "curves", "pretrain_curve", "finetune_curve"):
        assert f"report_{png}.png" in report
        assert (tmp_path / f"report_{png}.png").stat().st_size > 1000


def test_report_when_the_transformer_is_above_the_baseline(tmp_path: Path) -> None:
    report = _run(tmp_path, transformer_noise=0.3, kmer_noise=1.0).read_text()
    assert "worse than" not in report
    assert "On chromatin (mean over profiles) the transformer is above the k-mer LR" in report


def test_comparison_table_shows_intervals_and_deltas() -> None:
    metrics = pd.DataFrame(
        {
            "profile": ["a"],
            "auroc": [0.65],
            "n_pos": [3],
            "n_neg": [7],
            "auroc_lo": [0.6],
            "auroc_hi": [0.7],
            "auroc_cnn": [0.55],
            "delta_auroc_cnn": [0.1],
            "note": [np.nan],
        }
    )
    lines = comparison_table(metrics, "auroc").splitlines()
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells == ["a", "3", "7", "0.650 [0.600, 0.700]", "0.550", "0.100", ""]


def test_tables_without_baselines_still_make_a_report(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "step": [10],
            "train_loss": [7.0],
            "valid_loss": [7.2],
            "valid_accuracy": [0.01],
            "valid_perplexity": [1300.0],
        }
    ).to_csv(tmp_path / "pretrain.csv", index=False)
    out = write_report(
        tmp_path / "report.md",
        heads={"chromatin": "multilabel", "promoter": "binary"},
        metrics={
            "chromatin": DATA / "chromatin_metrics_example.tsv",
            "promoter": DATA / "promoter_metrics_example.tsv",
        },
        pretrain_metrics=tmp_path / "pretrain.csv",
    )
    report = out.read_text()
    assert "Verdict" not in report and "report_curves.png" not in report
    assert "| BEAF_Kc    | 109         | 1891        | 0.722         |" in report
    assert "AUROC 0.520 is close to chance" in report


def test_finetune_metrics_must_be_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["report", "--heads", "chromatin=multilabel", "--metrics", "chromatin=c.tsv"]
    argv += ["--pretrain-metrics", "m"]
    assert main([*argv, "--finetune-metrics", "metrics.csv", "-o", str(tmp_path / "r.md")]) == 1
    assert "--finetune-metrics: give HEAD=CSV" in capsys.readouterr().err


def test_profile_plot_leaves_out_group_summaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random((120, 3)) < 0.4).astype(float)
    scores = _held_out(labels, {"transformer": labels + rng.normal(0, 0.5, labels.shape)})
    rows = dataclasses.replace(scores.rows, groups=("DNase", "DNase", "TF"))
    scores = HeldOutScores(rows, "test", scores.probabilities, None)
    metrics = metrics_table(scores)
    assert "mean[DNase]" in metrics["profile"].tolist()
    figures: list[plt.Figure] = []
    monkeypatch.setattr(report, "_save", lambda figure, out: figures.append(figure) or out)
    report.plot_profile_auroc(metrics, tmp_path / "auroc.png")
    plotted = [label.get_text() for label in figures[0].axes[0].get_yticklabels()]
    assert plotted == ["p0", "p1", "p2"]


def test_pretraining_gain_and_mlm_references_are_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random((200, 1)) < 0.5).astype(float)
    scores = _held_out(
        labels,
        {
            "transformer": labels + rng.normal(0, 0.3, labels.shape),
            "scratch": labels + rng.normal(0, 1.0, labels.shape),
        },
        thresholds={"transformer": [0.5], "scratch": [0.5]},
    )
    metrics = metrics_table(scores, bootstrap=50, seed=0)
    verdict = report.comparison_verdict(metrics, row="promoter", what="promoters")
    assert verdict.startswith("Pretraining gains on promoters: AUROC 0.")
    assert "against 0." in verdict and "for the same head trained from scratch" in verdict
    assert "which excludes 0" in verdict
    last = pd.Series({"valid_loss": 6.0, "valid_unigram_loss": 8.0, "valid_neighbour_loss": 4.5})
    assert report.mlm_references(last) == (
        "References on the same masked tokens: 8.000 for unigram (training k-mer frequencies) "
        "(-2.000); 4.500 for k-mer counts + bases shown by unmasked neighbours (+1.500)."
    )
    assert report.mlm_references(pd.Series({"valid_loss": 6.0})) == ""


def _explained(sequence: str, importance: list[float]) -> pd.DataFrame:
    """An explain table whose three alternatives at each base all change the logit by minus that
    base's importance."""
    rows = [
        ("r", position, base, alt, "promoter", -value)
        for position, (base, value) in enumerate(zip(sequence, importance, strict=True))
        for alt in "ACGT".replace(base, "")
    ]
    return pd.DataFrame(rows, columns=["id", "position", "ref", "alt", "output", "logit_diff"])


def test_explanation_reading_finds_the_strongest_stretch(tmp_path: Path) -> None:
    values = [0.0] * 20
    values[5:8] = [2.0, 2.0, 2.0]
    values[12] = -1.0
    explained = _explained("GGGGGTATAGGGGCCCCCCC", values)
    assert report.explanation_reading("promoter", explained, width=3) == (
        "promoter: the 3 bases with the most importance are `TAT` at positions 5-7 of 'r' "
        "(promoter); against the average other base they move its logit by +6.00 together, 86% "
        "of the record's absolute importance over 20 bases (an even spread would be 15%)."
    )
    table = tmp_path / "explain" / "promoter.parquet"
    table.parent.mkdir()
    explained.to_parquet(table)
    (tmp_path / "explain" / "promoter.logos").mkdir()
    (tmp_path / "explain" / "promoter.logos" / "promoter.png").write_bytes(b"png")
    sections = report.explanation_sections({"promoter": table}, tmp_path / "report.md")
    assert sections[-1] == "![promoter promoter](explain/promoter.logos/promoter.png)"
    assert sections[-2].startswith("promoter: the 12 bases with the most importance are")
