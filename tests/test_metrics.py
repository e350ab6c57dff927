"""Metrics against values worked out by hand, and bootstrap intervals against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from genomix.data.tables import LabeledTable
from genomix.evaluate import HeldOutScores, metrics_table
from genomix.metrics import (
    best_f1_threshold,
    binary_metrics,
    bootstrap_weights,
    mean_auroc,
    percentile_interval,
    profile_metrics,
    weighted_calls,
    weighted_scores,
)


def test_auroc_by_hand() -> None:
    # Positives score 0.8 and 0.4, negatives 0.6 and 0.2: of the 4 (pos, neg) pairs, 3 are
    # ordered correctly -> AUROC 3/4.
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.6, 0.4, 0.2])
    row = profile_metrics(labels, scores)
    assert row["auroc"] == pytest.approx(0.75)
    # Average precision: precision 1/1 at the first positive, 2/3 at the second -> (1 + 2/3) / 2.
    assert row["auprc"] == pytest.approx((1 + 2 / 3) / 2)
    assert (row["n_pos"], row["n_neg"], row["note"]) == (2, 2, "")


def test_profile_without_positives_is_reported_as_such() -> None:
    row = profile_metrics(np.zeros(5), np.linspace(0, 1, 5))
    assert math.isnan(row["auroc"]) and row["note"] == "no positives in test split"


def test_mean_auroc_skips_one_class_outputs() -> None:
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    scores = np.array([[0.8, 0.1], [0.6, 0.2], [0.4, 0.3], [0.2, 0.4]])
    assert mean_auroc(labels, scores) == pytest.approx(0.75)


def test_binary_metrics_by_hand() -> None:
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.6, 0.4, 0.2])
    # Threshold 0.5 calls [1, 1, 0, 0]: TP 1, FP 1, FN 1, TN 1 -> F1 0.5, MCC 0, accuracy 0.5.
    assert binary_metrics(labels, scores, 0.5) == pytest.approx(
        {"threshold": 0.5, "f1": 0.5, "mcc": 0.0, "accuracy": 0.5}
    )


def test_best_f1_threshold() -> None:
    # Calling the top 3 gives TP 2, FP 1, FN 0 -> F1 0.8, the best achievable here.
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.6, 0.4, 0.2])
    assert best_f1_threshold(labels, scores) == pytest.approx(0.4)


def _resampled(weights: np.ndarray) -> list[np.ndarray]:
    """Row indices of each resample (row b of `weights` = how often each row is drawn)."""
    return [np.repeat(np.arange(weights.shape[1]), row) for row in weights]


def test_bootstrap_weights_draw_n_rows_per_resample() -> None:
    weights = bootstrap_weights(7, resamples=5, seed=1)
    assert weights.shape == (5, 7)
    assert (weights.sum(axis=1) == 7).all()
    assert (weights == bootstrap_weights(7, resamples=5, seed=1)).all()
    assert (weights != bootstrap_weights(7, resamples=5, seed=2)).any()


def test_weighted_scores_equal_scikit_learn_on_each_resample() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(200) < 0.2).astype(float)
    scores = np.round(rng.random(200), 1)  # many ties: they must cross a threshold together
    weights = bootstrap_weights(200, resamples=30, seed=0)
    draws = weighted_scores(labels, scores, weights)
    for b, rows in enumerate(_resampled(weights)):
        assert draws["auroc"][b] == pytest.approx(roc_auc_score(labels[rows], scores[rows]))
        assert draws["auprc"][b] == pytest.approx(
            average_precision_score(labels[rows], scores[rows])
        )


def test_weighted_calls_equal_binary_metrics_on_each_resample() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(100) < 0.4).astype(float)
    scores = rng.random(100)
    weights = bootstrap_weights(100, resamples=20, seed=3)
    draws = weighted_calls(labels, scores, 0.5, weights)
    for b, rows in enumerate(_resampled(weights)):
        expected = binary_metrics(labels[rows], scores[rows], 0.5)
        assert {key: draws[key][b] for key in ("f1", "mcc", "accuracy")} == pytest.approx(
            {key: expected[key] for key in ("f1", "mcc", "accuracy")}
        )


def test_a_resample_with_one_class_has_no_score() -> None:
    labels = np.array([1.0, 0.0, 0.0])
    weights = np.array([[0, 2, 1], [1, 1, 1]])  # the first resample has no positive
    draws = weighted_scores(labels, np.array([0.9, 0.1, 0.2]), weights)
    assert math.isnan(draws["auroc"][0]) and draws["auroc"][1] == 1.0


def test_percentile_interval_leaves_out_nan_draws() -> None:
    draws = np.array([np.nan, *np.arange(101.0)])  # 0..100: the 2.5th and 97.5th are 2.5, 97.5
    assert percentile_interval(draws) == pytest.approx((2.5, 97.5))
    assert all(math.isnan(x) for x in percentile_interval(np.full(3, np.nan)))


def _scores(labels: np.ndarray, probabilities: dict[str, np.ndarray], thresholds=None):
    n, p = labels.shape
    rows = LabeledTable(
        sequences=["ACGT"] * n,
        labels=labels.astype(np.float32),
        profiles=tuple(f"p{j}" for j in range(p)),
        split=np.full(n, "test", dtype=object),
        ids=[str(i) for i in range(n)],
    )
    return HeldOutScores(rows, "test", probabilities, thresholds)


def _two_models() -> HeldOutScores:
    rng = np.random.default_rng(5)
    labels = np.stack([rng.random(120) < 0.3, np.arange(120) < 60], axis=1).astype(float)
    noisy = labels[:, 0] + rng.normal(0, 0.8, 120)
    perfect = labels[:, 1] * 0.5 + rng.random(120) * 0.4  # profile p1: fully separable
    transformer = np.stack([noisy, perfect], axis=1)
    baseline = np.stack([labels[:, 0] + rng.normal(0, 1.5, 120), perfect], axis=1)
    return _scores(labels, {"transformer": transformer, "kmer_lr": baseline})


def test_intervals_contain_the_estimate_and_are_one_when_separable() -> None:
    table = metrics_table(_two_models(), bootstrap=200, seed=0).set_index("profile")
    for column in ("auroc", "auprc", "auroc_kmer_lr", "delta_auroc_kmer_lr"):
        for profile in ("p0", "p1", "mean", "median"):
            row = table.loc[profile]
            assert row[f"{column}_lo"] <= row[column] <= row[f"{column}_hi"], (column, profile)
    assert table.loc["p1", ["auroc", "auroc_lo", "auroc_hi"]].tolist() == [1.0, 1.0, 1.0]
    assert table.loc["p1", ["auprc_lo", "auprc_hi"]].tolist() == [1.0, 1.0]
    assert table.loc["p0", "auroc_hi"] - table.loc["p0", "auroc_lo"] > 0.05


def test_intervals_are_percentiles_of_the_given_resamples() -> None:
    # Reference: scikit-learn on each of the 50 seeded resamples, then numpy's percentiles.
    scores = _two_models()
    table = metrics_table(scores, bootstrap=50, seed=4).set_index("profile")
    labels, ours = scores.rows.labels[:, 0], scores.probabilities["transformer"][:, 0]
    theirs = scores.probabilities["kmer_lr"][:, 0]
    weights = bootstrap_weights(120, resamples=50, seed=4)
    aurocs = np.array([roc_auc_score(labels[r], ours[r]) for r in _resampled(weights)])
    deltas = aurocs - [roc_auc_score(labels[r], theirs[r]) for r in _resampled(weights)]
    assert table.loc["p0", ["auroc_lo", "auroc_hi"]].tolist() == pytest.approx(
        np.percentile(aurocs, [2.5, 97.5])
    )
    assert table.loc["p0", ["delta_auroc_kmer_lr_lo", "delta_auroc_kmer_lr_hi"]].tolist() == (
        pytest.approx(np.percentile(deltas, [2.5, 97.5]))
    )
    assert table.loc["p0", "delta_auroc_kmer_lr"] == pytest.approx(
        table.loc["p0", "auroc"] - table.loc["p0", "auroc_kmer_lr"]
    )
    # The mean row's interval is that of the mean over profiles, resample by resample.
    means = (aurocs + 1.0) / 2  # p1 is 1.0 in every resample
    assert table.loc["mean", ["auroc_lo", "auroc_hi"]].tolist() == pytest.approx(
        np.percentile(means, [2.5, 97.5])
    )


def test_same_seed_same_intervals_and_zero_resamples_none() -> None:
    scores = _two_models()
    first = metrics_table(scores, bootstrap=40, seed=7)
    pd.testing.assert_frame_equal(first, metrics_table(scores, bootstrap=40, seed=7))
    assert not first.equals(metrics_table(scores, bootstrap=40, seed=8))
    plain = metrics_table(scores, bootstrap=0)
    assert not [c for c in plain.columns if c.endswith(("_lo", "_hi"))]
    assert plain.columns.tolist()[:5] == ["profile", "auroc", "auprc", "n_pos", "n_neg"]


def test_promoter_calls_get_intervals_per_model() -> None:
    labels = np.array([[1], [0], [1], [0]] * 10, dtype=float)
    probabilities = np.array([[0.8], [0.6], [0.4], [0.2]] * 10)
    scores = _scores(
        labels,
        {"transformer": probabilities, "cnn": 1 - probabilities},
        thresholds={"transformer": [0.5], "cnn": [0.5]},
    )
    row = metrics_table(scores, bootstrap=30, seed=0).iloc[0]
    # Threshold 0.5 calls [1, 1, 0, 0]: F1 0.5, MCC 0, accuracy 0.5 (test_binary_metrics_by_hand).
    assert (row["f1"], row["mcc"], row["accuracy"]) == pytest.approx((0.5, 0.0, 0.5))
    assert row["f1_lo"] <= 0.5 <= row["f1_hi"]
    assert row["auroc_cnn"] == pytest.approx(0.25) and row["threshold_cnn"] == 0.5
    assert row["delta_accuracy_cnn"] == pytest.approx(row["accuracy"] - row["accuracy_cnn"])


def test_profile_without_positives_keeps_its_row_without_interval() -> None:
    labels = np.zeros((30, 1))
    table = metrics_table(_scores(labels, {"transformer": np.random.rand(30, 1)}), bootstrap=10)
    assert table["note"].iloc[0] == "no positives in test split"
    assert math.isnan(table["auroc_lo"].iloc[0])


def test_mcc_matches_sklearn_and_one_class_split_stays_quiet(
    recwarn: pytest.WarningsRecorder,
) -> None:
    """Issue 12: a one-class test split leaked scikit-learn's UserWarning to stderr."""
    from sklearn.metrics import matthews_corrcoef

    from genomix.metrics import binary_metrics, matthews_correlation

    rng = np.random.default_rng(0)
    for _ in range(50):
        labels, calls = rng.integers(0, 2, 20), rng.integers(0, 2, 20)
        assert matthews_correlation(labels, calls) == pytest.approx(
            matthews_corrcoef(labels, calls), abs=1e-12
        )
    assert matthews_correlation(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])) == pytest.approx(
        1 / np.sqrt(3)  # tp 1, fn 1, tn 2, fp 0: (2 - 0) / sqrt(1 * 2 * 2 * 3)
    )
    recwarn.clear()
    assert binary_metrics(np.zeros(5), np.zeros(5), 0.5)["mcc"] == 0.0
    assert not recwarn.list
