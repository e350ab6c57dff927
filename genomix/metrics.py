"""Classification metrics, computed by scikit-learn, with no silent NaN for one-class outputs."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
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
        "mcc": matthews_correlation(labels, calls),
        "accuracy": float(accuracy_score(labels, calls)),
    }


def bootstrap_weights(n: int, *, resamples: int, seed: int) -> np.ndarray:
    """Bootstrap resamples of n rows as multiplicities: (resamples, n) int64, each row sums to n.

    All resamples are drawn in one call (row b holds how often each row was drawn in resample b),
    so every metric below is computed for all resamples at once, and the same weights pair the
    models and profiles of one evaluation (differences between models get their own interval).
    """
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    offsets = np.arange(resamples)[:, None] * n
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n).reshape(resamples, n)


def weighted_scores(
    labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """AUROC and AUPRC of one output under each row weighting, vectorised over the weightings.

    labels, probabilities: (N,); weights: (B, N) row multiplicities (`bootstrap_weights`).
    Returns {"auroc": (B,), "auprc": (B,)} equal to scikit-learn's `roc_auc_score` and
    `average_precision_score` on the resampled rows (ties as scikit-learn: one threshold per
    distinct score); NaN where a weighting leaves a single class.
    """
    order = np.argsort(-probabilities, kind="stable")
    sorted_scores = probabilities[order]
    # One group per distinct score, highest first: tied rows cross a threshold together.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    positive = labels[order].astype(bool)
    w = weights[:, order].astype(np.float64)
    pos = np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1)  # (B, U)
    neg = np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    valid = (n_pos > 0) & (n_neg > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Mann-Whitney: a positive beats the negatives below it and half of those tied with it.
        negatives_below = n_neg[:, None] - np.cumsum(neg, axis=1)
        auroc = (pos * (negatives_below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
        true_pos = np.cumsum(pos, axis=1)
        precision = true_pos / (true_pos + np.cumsum(neg, axis=1))
        auprc = np.where(pos > 0, pos * precision, 0.0).sum(axis=1) / n_pos
    return {"auroc": np.where(valid, auroc, np.nan), "auprc": np.where(valid, auprc, np.nan)}


def weighted_calls(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """F1, MCC and accuracy of `probabilities >= threshold` under each row weighting.

    labels, probabilities: (N,); weights: (B, N). Returns {"f1", "mcc", "accuracy"}: (B,) each,
    equal to `binary_metrics` on the resampled rows (0 where scikit-learn's F1 or MCC is 0/0).
    """
    calls = probabilities >= threshold
    positive = labels.astype(bool)
    w = weights.astype(np.float64)
    tp = w[:, calls & positive].sum(axis=1)
    fp = w[:, calls & ~positive].sum(axis=1)
    fn = w[:, ~calls & positive].sum(axis=1)
    tn = w[:, ~calls & ~positive].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
        denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(denominator > 0, (tp * tn - fp * fn) / denominator, 0.0)
    return {"f1": f1, "mcc": mcc, "accuracy": (tp + tn) / w.sum(axis=1)}


def percentile_interval(draws: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap draws (B,), NaN draws left out.

    (NaN, NaN) when every draw is NaN (no resample had both classes).
    """
    kept = draws[~np.isnan(draws)]
    if kept.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(kept, [tail, 100 - tail])
    return float(low), float(high)


def matthews_correlation(labels: np.ndarray, calls: np.ndarray) -> float:
    """MCC of 0/1 `calls` against 0/1 `labels`, both (N,); 0 when a margin is empty.

    Computed from the 2 x 2 counts, as scikit-learn does, but without its UserWarning when the
    labels and calls hold one class (a one-class test split).
    """
    labels, calls = np.asarray(labels).astype(bool), np.asarray(calls).astype(bool)
    tp, tn = float(np.sum(labels & calls)), float(np.sum(~labels & ~calls))
    fp, fn = float(np.sum(~labels & calls)), float(np.sum(labels & ~calls))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0
