"""Metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genomix.metrics import best_f1_threshold, binary_metrics, mean_auroc, profile_metrics


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
