"""Classification metrics, computed by scikit-learn, with no silent NaN for one-class outputs."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    precision_recall_curve,
    roc_auc_score,
)


def has_both_classes(labels: np.ndarray) -> bool:
    """True when a 0/1 label vector holds at least one positive and one negative."""
    positives = int(labels.sum())
    return 0 < positives < len(labels)


def mean_auroc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean AUROC over the outputs (columns) that have both classes; labels, probabilities: (N, P).

    Returns 0.5 (chance) when no output has both classes, so early stopping still works.
    """
    scores = [
        roc_auc_score(labels[:, j], probabilities[:, j])
        for j in range(labels.shape[1])
        if has_both_classes(labels[:, j])
    ]
    return float(np.mean(scores)) if scores else 0.5


def best_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The probability threshold that maximises F1 on (labels, probabilities), both (N,).

    0.5 when the labels have a single class (no threshold can be chosen from them).
    """
    if not has_both_classes(labels):
        return 0.5
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def profile_metrics(
    labels: np.ndarray, probabilities: np.ndarray, *, split: str = "test"
) -> dict[str, float | int | str]:
    """AUROC, AUPRC and class counts of one output; labels, probabilities: (N,).

    An output without positives (or without negatives) gets NaN scores and a `note` saying why.
    """
    positives = int(labels.sum())
    row: dict[str, float | int | str] = {
        "n_pos": positives,
        "n_neg": len(labels) - positives,
        "note": "",
    }
    if has_both_classes(labels):
        row["auroc"] = float(roc_auc_score(labels, probabilities))
        row["auprc"] = float(average_precision_score(labels, probabilities))
    else:
        row["auroc"] = row["auprc"] = float("nan")
        missing = "positives" if positives == 0 else "negatives"
        row["note"] = f"no {missing} in {split} split"
    return row


def binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float]:
    """F1, MCC and accuracy of the calls `probabilities >= threshold`; both arrays (N,)."""
    calls = (probabilities >= threshold).astype(int)
    return {
        "threshold": float(threshold),
        "f1": float(f1_score(labels, calls, zero_division=0)),
        "mcc": float(matthews_corrcoef(labels, calls)),
        "accuracy": float(accuracy_score(labels, calls)),
    }
