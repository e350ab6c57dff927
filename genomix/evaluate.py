"""Held-out metrics of a fine-tuned model beside baselines: one row per profile, 95% intervals."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genomix.baselines import finetune_rows, train_baselines
from genomix.checkpoint import load_classifier
from genomix.config import EvaluateConfig
from genomix.data.rows import cap_rows
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.metrics import (
    best_f1_threshold,
    binary_metrics,
    bootstrap_weights,
    percentile_interval,
    profile_metrics,
    weighted_calls,
    weighted_scores,
)
from genomix.runtime import resolve_device
from genomix.scoring import score_sequences
from genomix.tasks import get_task

logger = logging.getLogger(__name__)

COLUMNS = ["profile", "auroc", "auprc", "n_pos", "n_neg", "note"]
MODEL = "transformer"  # the fine-tuned model; its columns carry no suffix
CALL_METRICS = ("f1", "mcc", "accuracy")


@dataclass(frozen=True)
class HeldOutScores:
    """Every model's probabilities on the same held-out rows.

    Attributes:
        rows: the N scored rows (P profiles).
        split: the split they come from.
        probabilities: model name -> (N, P) float, the transformer (`MODEL`) first.
        thresholds: model name -> P thresholds chosen on the validation rows (a task kind that
            makes calls, e.g. binary), or None (multilabel: no calls).
    """

    rows: LabeledTable
    split: str
    probabilities: Mapping[str, np.ndarray]
    thresholds: Mapping[str, Sequence[float]] | None


def score_models(
    model_dir: str | Path,
    table: LabeledTable,
    *,
    split: str = "test",
    max_rows: int = 0,
    seed: int = 0,
    batch_size: int = 32,
    device: str = "auto",
    config: EvaluateConfig | None = None,
    compare: Mapping[str, str | Path] | None = None,
) -> HeldOutScores:
    """Score the table's `split` rows (a seeded sample of `max_rows`; 0 = all) with the model.

    `compare` maps a name to another fine-tuned model directory of the same task and outputs
    (e.g. `scratch`: the same head trained without pretraining); each scores the same rows
    with its own threshold, so `metrics_table` gives the model's gain over it with a paired
    interval. `config` (default `EvaluateConfig()`: no baselines) names the baselines. Each is
    first trained on the rows fine-tuning used (the model's own caps and seed,
    `genomix.baselines.finetune_rows`), then scores the same rows; for a task kind that makes
    calls its threshold is chosen on the validation rows, as fine-tuning's is.
    """
    config = config or EvaluateConfig()
    model, tokenizer, metadata = load_classifier(model_dir)
    if list(table.profiles) != metadata["profiles"]:
        raise GenomixError(
            f"{model_dir}: model outputs {metadata['profiles'][:5]} do not match the table's "
            f"profiles {list(table.profiles)[:5]}"
        )
    rows = cap_rows(table.subset(split), max_rows, torch.Generator().manual_seed(seed))
    if not rows.sequences:
        raise GenomixError(f"the table has no '{split}' rows to evaluate")
    torch_device = resolve_device(device)
    # Pad every batch alike (sparse patterns depend on the padded length), as in fine-tuning.
    longest = max(len(sequence) for sequence in rows.sequences)
    pad_to = tokenizer.tokens_for_length(max(longest, metadata["window_bases"])) + 1
    probabilities = {
        MODEL: score_sequences(
            model.to(torch_device),
            tokenizer,
            rows.sequences,
            batch_size=batch_size,
            device=torch_device,
            pad_to=pad_to,
        )
    }
    task = get_task(metadata["task"])
    thresholds = {MODEL: metadata["thresholds"]} if task.makes_calls else None
    for name, directory in (compare or {}).items():
        other, other_tokenizer, other_metadata = load_classifier(directory)
        if (get_task(other_metadata["task"]), other_metadata["profiles"]) != (
            task,
            metadata["profiles"],
        ):
            raise GenomixError(
                f"{directory}: its task and outputs ({other_metadata['task']}, "
                f"{len(other_metadata['profiles'])}) differ from those of {model_dir} "
                f"({metadata['task']}, {len(metadata['profiles'])}); it cannot be compared"
            )
        other_pad = other_tokenizer.tokens_for_length(max(longest, other_metadata["window_bases"]))
        probabilities[name] = score_sequences(
            other.to(torch_device),
            other_tokenizer,
            rows.sequences,
            batch_size=batch_size,
            device=torch_device,
            pad_to=other_pad + 1,
        )
        if thresholds is not None:
            thresholds[name] = other_metadata["thresholds"]
    if config.baselines:
        tuned = metadata["finetune"]
        train, valid = finetune_rows(
            table,
            task=metadata["task"],
            max_train_rows=tuned["max_train_rows"],
            max_eval_rows=tuned["max_eval_rows"],
            seed=tuned["seed"],
        )
        predictors = train_baselines(
            config.baselines,
            train,
            valid,
            kmer_k=config.kmer_k,
            cnn_epochs=config.cnn_epochs,
            length=max(len(s) for s in train.sequences + valid.sequences + rows.sequences),
            seed=tuned["seed"],
        )
        for name, predict in predictors.items():
            probabilities[name] = predict(rows.sequences)
            if thresholds is not None:
                on_valid = predict(valid.sequences)
                thresholds[name] = [
                    best_f1_threshold(valid.labels[:, j], on_valid[:, j])
                    for j in range(len(rows.profiles))
                ]
    return HeldOutScores(rows, split, probabilities, thresholds)


def metrics_table(scores: HeldOutScores, *, bootstrap: int = 0, seed: int = 0) -> pd.DataFrame:
    """The metrics table of `score_models`' output.

    Rows: one per profile, then `mean` and `median` over the profiles that have both classes
    (and `mean[<group>]`, `median[<group>]` per profile group, e.g. DeepSEA's DNase / TF / HM).
    A profile without positives in the split keeps its row with empty scores and a note.

    Columns: `profile, auroc, auprc, n_pos, n_neg`, for a task kind with calls `threshold, f1, mcc,
    accuracy` (calls at the threshold chosen on the validation rows), all of the transformer;
    then per metric, the same metric of each baseline (`auroc_kmer_lr`, ...) and the
    transformer's gain over it (`delta_auroc_kmer_lr` = auroc - auroc_kmer_lr); with
    `bootstrap` resamples (seeded by `seed`), each of these has `_lo` and `_hi` columns, the 95%
    percentile interval. The resamples are shared by all models and profiles, so a delta's
    interval is that of the paired difference, and a summary row's is that of the mean (median)
    over profiles. Last: each baseline's `threshold_<name>`, and `note`.
    """
    rows, names = scores.rows, list(scores.probabilities)
    baselines = names[1:]
    metrics = ["auroc", "auprc"] + (list(CALL_METRICS) if scores.thresholds else [])
    n, p = rows.labels.shape
    weights = bootstrap_weights(n, resamples=bootstrap, seed=seed) if bootstrap else None
    draws: dict[str, np.ndarray] = {}  # column -> (B, P) bootstrap draws
    records = []
    for j, profile in enumerate(rows.profiles):
        labels = rows.labels[:, j]
        record = {"profile": profile}
        for name in names:
            suffix = "" if name == MODEL else f"_{name}"
            probabilities = scores.probabilities[name][:, j]
            values = profile_metrics(labels, probabilities, split=scores.split)
            if name != MODEL:
                values = {"auroc": values["auroc"], "auprc": values["auprc"]}
            samples = {} if weights is None else weighted_scores(labels, probabilities, weights)
            if scores.thresholds:
                threshold = scores.thresholds[name][j]
                values.update(binary_metrics(labels, probabilities, threshold))
                if weights is not None:
                    samples.update(weighted_calls(labels, probabilities, threshold, weights))
            record.update({f"{key}{suffix}": value for key, value in values.items()})
            for key, sample in samples.items():
                draws.setdefault(f"{key}{suffix}", np.full((bootstrap, p), np.nan))[:, j] = sample
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for metric in metrics:
        for name in baselines:
            delta = f"delta_{metric}_{name}"
            frame[delta] = frame[metric] - frame[f"{metric}_{name}"]
            if weights is not None:
                draws[delta] = draws[metric] - draws[f"{metric}_{name}"]
    for column, sample in draws.items():
        bounds = np.array([percentile_interval(sample[:, j]) for j in range(p)]).reshape(p, 2)
        frame[f"{column}_lo"], frame[f"{column}_hi"] = bounds[:, 0], bounds[:, 1]
    summaries = summarize_profiles(frame, groups=rows.groups, draws=draws)
    frame = pd.concat([frame, pd.DataFrame.from_records(summaries)], ignore_index=True)
    logger.info(
        "evaluated %d rows: mean AUROC %s",
        n,
        ", ".join(f"{name} {frame[_column('auroc', name)].iloc[p]:.4f}" for name in names),
    )
    return frame[_ordered_columns(frame.columns, metrics, baselines)]


def _column(metric: str, name: str) -> str:
    return metric if name == MODEL else f"{metric}_{name}"


def _ordered_columns(
    present: Sequence[str], metrics: Sequence[str], baselines: Sequence[str]
) -> list[str]:
    """COLUMNS' order first (then the transformer's calls), each metric's extras grouped."""
    order = COLUMNS[:-1] + ["threshold", *CALL_METRICS]
    for metric in metrics:
        order += [f"{metric}_lo", f"{metric}_hi"]
        for name in baselines:
            order += [f"{metric}_{name}", f"{metric}_{name}_lo", f"{metric}_{name}_hi"]
        for name in baselines:
            order += [f"delta_{metric}_{name}", f"delta_{metric}_{name}_lo"]
            order += [f"delta_{metric}_{name}_hi"]
    order += [f"threshold_{name}" for name in baselines] + ["note"]
    return [column for column in order if column in present]


def predictions_table(scores: HeldOutScores) -> pd.DataFrame:
    """Long table of the scored rows, for curves: one line per (row, profile).

    Columns: `id, profile, label`, then one probability column per model (`transformer`, then
    the baselines); N x P lines, row by row.
    """
    rows = scores.rows
    n, p = rows.labels.shape
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.asarray(rows.ids, dtype=object), p),
            "profile": np.tile(np.asarray(rows.profiles, dtype=object), n),
            "label": rows.labels.ravel().astype(np.int8),
        }
    )
    for name, probabilities in scores.probabilities.items():
        frame[name] = probabilities.ravel()
    return frame


def evaluate_model(
    model_dir: str | Path,
    table: LabeledTable,
    *,
    split: str = "test",
    max_rows: int = 0,
    seed: int = 0,
    batch_size: int = 32,
    device: str = "auto",
    config: EvaluateConfig | None = None,
    compare: Mapping[str, str | Path] | None = None,
) -> pd.DataFrame:
    """`metrics_table(score_models(...))`: score the `split` rows, return the metrics table.

    The bootstrap (`config.bootstrap` resamples) is seeded with `seed`, as the row sample is.
    """
    config = config or EvaluateConfig()
    scores = score_models(
        model_dir,
        table,
        split=split,
        max_rows=max_rows,
        seed=seed,
        batch_size=batch_size,
        device=device,
        config=config,
        compare=compare,
    )
    return metrics_table(scores, bootstrap=config.bootstrap, seed=seed)


def summarize_profiles(
    frame: pd.DataFrame,
    *,
    groups: Sequence[str] | None = None,
    draws: Mapping[str, np.ndarray] | None = None,
) -> list[dict[str, float | str]]:
    """Summary rows of a per-profile metrics table (one row per profile, a `note` column).

    Returns `mean` and `median` of every numeric column over the profiles with an empty note
    (both classes present) and, when `groups` (P,) is given, `mean[<group>]` and
    `median[<group>]` over that group's scored profiles, groups in order of first appearance.
    `draws` (column -> (B, P) bootstrap draws) replaces the `<column>_lo` and `<column>_hi` of
    each summary row by the 95% interval of the mean (median) over the same profiles.
    """
    subsets = [("", "", np.ones(len(frame), dtype=bool))]
    if groups is not None:
        # DeepSEA and BigBird report DNase / TF / HM apart: one overall median hides a weak group.
        if len(groups) != len(frame):
            raise GenomixError(f"{len(groups)} profile groups for {len(frame)} profiles")
        labels = np.asarray(groups, dtype=object)
        subsets += [(f"[{g}]", f" {g}", labels == g) for g in dict.fromkeys(groups)]
    summaries = []
    for suffix, kind, members in subsets:
        profiles = frame[members]
        chosen = members & (frame["note"] == "").to_numpy()
        scored = frame[chosen]
        for name, reduce, reduce_draws in (
            ("mean", np.mean, np.nanmean),
            ("median", np.median, np.nanmedian),
        ):
            # Every column, counts included, is the mean (median) over the scored profiles.
            summary: dict[str, float | str] = {
                "profile": f"{name}{suffix}",
                "note": f"{name} over {len(scored)} of {len(profiles)}{kind} profiles",
            }
            for column in frame.columns:
                if column not in ("profile", "note"):
                    summary[column] = float(reduce(scored[column])) if len(scored) else float("nan")
            for column, sample in (draws or {}).items():
                with warnings.catch_warnings():  # a resample may lack a class in every profile
                    warnings.simplefilter("ignore", RuntimeWarning)
                    reduced = reduce_draws(sample[:, chosen], axis=1)
                summary[f"{column}_lo"], summary[f"{column}_hi"] = percentile_interval(reduced)
            summaries.append(summary)
    return summaries
