"""Held-out metrics of a fine-tuned model: one row per profile (AUROC, AUPRC, counts)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genomix.checkpoint import load_classifier
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.finetune import cap_rows
from genomix.metrics import binary_metrics, profile_metrics
from genomix.scoring import score_sequences
from genomix.train import resolve_device

logger = logging.getLogger(__name__)

COLUMNS = ["profile", "auroc", "auprc", "n_pos", "n_neg", "note"]


def evaluate_model(
    model_dir: str | Path,
    table: LabeledTable,
    *,
    split: str = "test",
    max_rows: int = 0,
    seed: int = 0,
    batch_size: int = 32,
    device: str = "auto",
) -> pd.DataFrame:
    """Score the table's `split` rows and return the metrics table.

    Rows: one per profile (`profile, auroc, auprc, n_pos, n_neg, note`), then `mean` and `median`
    of every column over the profiles that have both classes. A profile without positives in
    the split keeps its row with empty scores and a note saying so. When the table has profile
    groups (DeepSEA: DNase / TF / HM), `mean[<group>]` and `median[<group>]` rows follow, one
    pair per group in order of first appearance. For the promoter task the columns
    `threshold, f1, mcc, accuracy` are added, at the threshold chosen on the validation split
    during fine-tuning.
    """
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
    probabilities = score_sequences(
        model.to(torch_device),
        tokenizer,
        rows.sequences,
        batch_size=batch_size,
        device=torch_device,
        pad_to=pad_to,
    )
    records = []
    for j, profile in enumerate(rows.profiles):
        record = {
            "profile": profile,
            **profile_metrics(rows.labels[:, j], probabilities[:, j], split=split),
        }
        if metadata["task"] == "promoter":
            record.update(
                binary_metrics(rows.labels[:, j], probabilities[:, j], metadata["thresholds"][j])
            )
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    summaries = summarize_profiles(frame, groups=rows.groups)
    frame = pd.concat([frame, pd.DataFrame.from_records(summaries)], ignore_index=True)
    extra = [c for c in frame.columns if c not in COLUMNS]
    logger.info("evaluated %d rows: mean AUROC %.4f", len(rows.sequences), summaries[0]["auroc"])
    return frame[COLUMNS[:-1] + extra + ["note"]]


def summarize_profiles(
    frame: pd.DataFrame, *, groups: Sequence[str] | None = None
) -> list[dict[str, float | str]]:
    """Summary rows of a per-profile metrics table (one row per profile, a `note` column).

    Returns `mean` and `median` of every numeric column over the profiles with an empty note
    (both classes present) and, when `groups` (P,) is given, `mean[<group>]` and
    `median[<group>]` over that group's scored profiles, groups in order of first appearance.
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
        scored = profiles[profiles["note"] == ""]
        for name, reduce in (("mean", np.mean), ("median", np.median)):
            # Every column, counts included, is the mean (median) over the scored profiles.
            summary: dict[str, float | str] = {
                "profile": f"{name}{suffix}",
                "note": f"{name} over {len(scored)} of {len(profiles)}{kind} profiles",
            }
            for column in frame.columns:
                if column not in ("profile", "note"):
                    summary[column] = float(reduce(scored[column])) if len(scored) else float("nan")
            summaries.append(summary)
    return summaries
