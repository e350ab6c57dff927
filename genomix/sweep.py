"""The attention/context sweep: which variants to train, and one table and plot of their results.

A sweep (config section `sweep`, run by workflows/sweep.smk) trains the recipe of config.yaml
once per variant, changing only what the sweep varies:

- every attention kind of `sweep.attention`, at the chromatin flank of config.yaml, with both heads;
- the kinds of `sweep.flank_attention` at each other flank of `sweep.flanks`, chromatin head only.

Every variant labels the same chromatin bins (`chromatin.margin` = the widest flank), so the
contexts are scored on the same test rows, and its `model.max_tokens` is what its chromatin window
needs, so pretraining windows are as long as the fine-tuning context. `sweep_table` gathers what
each variant wrote: the held-out MLM loss beside its unigram and neighbour references, each head's
test AUROC, pretraining tokens/s, and run time and peak memory from Snakemake's benchmark files;
and, per kind, the paired AUROC gain of each longer context over its shortest, on the same bins.
`genomix.sweep_report` writes the table as TSV and markdown, and the plot.
"""

from __future__ import annotations

import copy
import gzip
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genomix.attention import nest_attention
from genomix.config import ChromatinConfig, TokenizeConfig
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.metrics import (
    bootstrap_weights,
    has_both_classes,
    mean_auroc,
    percentile_interval,
    weighted_scores,
)

MODEL = "transformer"  # genomix.evaluate.MODEL: the fine-tuned model's column in predictions

HEADS = ("promoter", "chromatin")
# Per head: the metrics file `genomix evaluate` writes in the variant's folder, and its summary row
# (chromatin: the mean over profiles; promoter: its one output, the first row).
METRICS_FILES = {head: f"{head}_metrics.tsv" for head in HEADS}
SUMMARY_ROW = {"promoter": None, "chromatin": "mean"}
# Snakemake benchmark file (stem) of each head's fine-tuning -> the head (beside pretrain.tsv).
STAGES = {"finetune_promoter": "promoter", "finetune_chromatin": "chromatin"}
PREDICTIONS = "chromatin_predictions.tsv.gz"  # per (test row, profile), for the context gain
MLM_COLUMNS = {
    "valid_loss": "mlm_loss",
    "valid_unigram_loss": "mlm_unigram_loss",
    "valid_neighbour_loss": "mlm_neighbour_loss",
}


@dataclass(frozen=True)
class Variant:
    """One run of the sweep: results/<run>/<name>/, benchmarks/<run>/<name>/."""

    name: str
    attention: str
    flank: int
    margin: int
    max_tokens: int
    heads: tuple[str, ...]

    def overrides(self) -> dict[str, dict[str, Any]]:
        """config.yaml keys this variant changes, by section."""
        return {
            "model": {"attention": {"name": self.attention}, "max_tokens": self.max_tokens},
            "heads": {"chromatin": {"flank": self.flank, "margin": self.margin}},
        }


def plan_variants(config: Mapping[str, Any]) -> list[Variant]:
    """The variants of a whole config.yaml's `sweep` section, kinds first, then extra flanks.

    Raises:
        GenomixError: a kind of `sweep.flank_attention` missing from `sweep.attention`.
    """
    sweep = config["sweep"]
    chromatin = config["heads"]["chromatin"]
    bin_size = chromatin.get("bin_size", ChromatinConfig.bin_size)
    default_flank = chromatin.get("flank", ChromatinConfig.flank)
    tokenize = config.get("tokenize", {})
    tokenizer = KmerTokenizer(
        tokenize.get("k", TokenizeConfig.k), tokenize.get("stride", TokenizeConfig.stride)
    )
    flanks = [f for f in dict.fromkeys(sweep.get("flanks", ())) if f != default_flank]
    margin = max([default_flank, *flanks])
    unknown = sorted(set(sweep.get("flank_attention", ())) - set(sweep["attention"]))
    if unknown:
        raise GenomixError(
            f"sweep.flank_attention: {', '.join(unknown)} not in sweep.attention; add it there"
        )

    def variant(attention: str, flank: int, heads: tuple[str, ...]) -> Variant:
        # [CLS] + the k-mers of the bin and both flanks: the longest input the model must take.
        tokens = tokenizer.tokens_for_length(bin_size + 2 * flank) + 1
        return Variant(f"{attention}_flank{flank}", attention, flank, margin, tokens, heads)

    plan = [variant(kind, default_flank, HEADS) for kind in sweep["attention"]]
    for kind in sweep.get("flank_attention", ()):
        plan += [variant(kind, flank, ("chromatin",)) for flank in flanks]
    return plan


def variant_config(config: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """The config one variant runs: `config` without `sweep`, run `<run>/<variant>`, and the
    variant's overrides merged key by key into their sections (into each head's, for `heads`).
    `model.attention` keeps its options when it names the variant's kind (its defaults else)."""
    merged = copy.deepcopy({key: value for key, value in config.items() if key != "sweep"})
    for section, values in variant.overrides().items():
        if section == "heads":
            values = {head: {**merged[section][head], **keys} for head, keys in values.items()}
        merged[section] = {**merged.get(section, {}), **values}
    own = config.get("model", {}).get("attention", {})
    if own.get("name") == variant.attention:
        merged["model"]["attention"] = copy.deepcopy(own)
    merged["run"] = f"{config['run']}/{variant.name}"
    return merged


def _read(path: Path, sep: str = "\t") -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise GenomixError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, gzip.BadGzipFile) as error:
        raise GenomixError(f"{path}: not a readable table ({error})") from None
    if frame.empty:
        raise GenomixError(f"{path}: no rows")
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GenomixError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise GenomixError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None


def _head_columns(head: str, path: Path) -> dict[str, float]:
    """`<head>_auroc` (+ `_lo`/`_hi`, + `_<baseline>`) from a `genomix evaluate` table."""
    metrics = _read(path)
    if "auroc" not in metrics or "profile" not in metrics:
        raise GenomixError(f"{path}: not a genomix evaluate table (no profile/auroc columns)")
    row_name = SUMMARY_ROW[head]
    rows = metrics if row_name is None else metrics[metrics["profile"] == row_name]
    if rows.empty:
        raise GenomixError(f"{path}: no '{row_name}' row")
    row = rows.iloc[0]
    return {
        f"{head}_{column}": float(row[column])
        for column in metrics.columns
        if column.startswith("auroc")
    }


def _stage_columns(prefix: str, path: Path) -> dict[str, float]:
    """`<prefix>_s` and `<prefix>_max_rss_mb` from a Snakemake benchmark file."""
    frame = _read(path)
    missing = {"s", "max_rss"} - set(frame.columns)
    if missing:
        raise GenomixError(f"{path}: not a Snakemake benchmark file (no {', '.join(missing)})")
    # Snakemake writes NA where the platform cannot measure memory.
    rss = pd.to_numeric(frame["max_rss"], errors="coerce").iloc[0]
    return {f"{prefix}_s": float(frame["s"].iloc[0]), f"{prefix}_max_rss_mb": float(rss)}


def variant_row(folder: Path, timings: Path) -> dict[str, Any]:
    """One table row from a variant's results `folder` and its benchmark folder `timings`.

    A head counts when its metrics table is in `folder`; pretraining's files must be there.
    """
    pretrained = _read_json(folder / "pretrain" / "config.json")
    row: dict[str, Any] = {
        "variant": folder.name,
        "attention": nest_attention(pretrained["model"])["attention"]["name"],
        "max_tokens": pretrained["model"]["max_tokens"],
    }
    heads = [head for head in HEADS if (folder / METRICS_FILES[head]).is_file()]
    if not heads:
        raise GenomixError(f"{folder}: no {' or '.join(METRICS_FILES.values())}")
    if "chromatin" in heads:
        row["context_bp"] = _read_json(folder / "chromatin" / "config.json")["window_bases"]
    curve = _read(folder / "pretrain" / "metrics.csv", sep=",")
    last = curve.iloc[-1]
    row |= {ours: float(last[theirs]) for theirs, ours in MLM_COLUMNS.items() if theirs in last}
    row["pretrain_tokens_per_s"] = float(last["tokens_per_s"])
    for head in heads:
        row |= _head_columns(head, folder / METRICS_FILES[head])
    row |= _stage_columns("pretrain", timings / "pretrain.tsv")
    for stage, head in STAGES.items():
        if head in heads:
            row |= _stage_columns(head, timings / f"{stage}.tsv")
    return row


def _bin_key(identifier: str, path: Path) -> tuple[str, int]:
    """(record, window start + end) of a chromatin row id `record:start-end`: the same for a
    bin's windows at every flank (they share their centre)."""
    record, _, span = identifier.rpartition(":")
    start, _, end = span.partition("-")
    if not record or not start.isdigit() or not end.isdigit():
        raise GenomixError(f"{path}: row id {identifier!r} is not record:start-end")
    return record, int(start) + int(end)


def read_bin_predictions(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels and the transformer's probabilities of a chromatin predictions table (`genomix
    evaluate --predictions`), each (N, P), indexed by bin (`_bin_key`), columns the profiles."""
    frame = _read(path)
    missing = {"id", "profile", "label", MODEL} - set(frame.columns)
    if missing:
        raise GenomixError(f"{path}: not a predictions table (no {', '.join(sorted(missing))})")
    keys = [_bin_key(str(identifier), path) for identifier in frame["id"]]
    frame.index = pd.MultiIndex.from_tuples(keys, names=["record", "centre2"])
    frame = frame.set_index("profile", append=True)
    return frame["label"].unstack("profile"), frame[MODEL].unstack("profile")


def context_gain(
    longer: Path, shorter: Path, *, bootstrap: int = 0, seed: int = 0
) -> dict[str, float]:
    """Mean AUROC over profiles of `longer`'s predictions minus `shorter`'s, on the bins both
    scored, with the 95% interval of `bootstrap` paired resamples of those bins.

    Returns {"context_gain", "context_gain_lo", "context_gain_hi", "context_rows"}.

    Raises:
        GenomixError: no common bins, or a common bin labelled differently (not the same bins).
    """
    labels, long_p = read_bin_predictions(longer)
    short_labels, short_p = read_bin_predictions(shorter)
    common = labels.index.intersection(short_labels.index)
    if common.empty:
        raise GenomixError(f"{longer}, {shorter}: no test bins in common")
    labels = labels.loc[common]
    if not labels.equals(short_labels.loc[common, labels.columns]):
        raise GenomixError(
            f"{longer}, {shorter}: a bin has other labels in each (not built with one "
            "chromatin.margin?)"
        )
    y = labels.to_numpy(dtype=np.int64)
    a = long_p.loc[common, labels.columns].to_numpy(dtype=float)
    b = short_p.loc[common, labels.columns].to_numpy(dtype=float)
    scored = [j for j in range(y.shape[1]) if has_both_classes(y[:, j])]
    gain = low = high = float("nan")
    if scored:
        gain = mean_auroc(y[:, scored], a[:, scored]) - mean_auroc(y[:, scored], b[:, scored])
    if bootstrap and scored:
        weights = bootstrap_weights(len(y), resamples=bootstrap, seed=seed)
        draws = np.stack(
            [
                weighted_scores(y[:, j], a[:, j], weights)["auroc"]
                - weighted_scores(y[:, j], b[:, j], weights)["auroc"]
                for j in scored
            ]
        )
        with warnings.catch_warnings():  # a resample with no profile scored: a NaN draw
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = percentile_interval(np.nanmean(draws, axis=0))
    return {
        "context_gain": gain,
        "context_gain_lo": low,
        "context_gain_hi": high,
        "context_rows": float(len(y)),
    }


def sweep_table(
    folders: Sequence[Path], benchmarks: Sequence[Path], *, bootstrap: int = 0, seed: int = 0
) -> pd.DataFrame:
    """(V, C) one row per variant folder, in order, each with its benchmark folder; a head that
    a variant did not train is blank.

    For every attention kind trained at several chromatin contexts, each longer context's row
    gets `context_gain` over the kind's shortest (`context_reference`): the paired difference
    of mean AUROC on their common test bins (`context_gain`), with a `bootstrap` interval.
    """
    if not folders:
        raise GenomixError("sweep-table: no variant folders given")
    if len(folders) != len(benchmarks):
        raise GenomixError(
            f"sweep-table: {len(folders)} variant folders but {len(benchmarks)} benchmark "
            "folders; give one benchmark folder per variant, in the same order"
        )
    folders = [Path(folder) for folder in folders]
    table = pd.DataFrame(
        [variant_row(f, Path(b)) for f, b in zip(folders, benchmarks, strict=True)]
    )
    if "context_bp" not in table:
        return table
    where = dict(zip(table["variant"], folders, strict=True))
    for _, rows in table.dropna(subset=["context_bp"]).groupby("attention", sort=False):
        reference = rows.loc[rows["context_bp"].idxmin(), "variant"]
        for index, row in rows[rows["context_bp"] > rows["context_bp"].min()].iterrows():
            gain = context_gain(
                where[row["variant"]] / PREDICTIONS,
                where[reference] / PREDICTIONS,
                bootstrap=bootstrap,
                seed=seed,
            )
            table.loc[index, "context_reference"] = reference
            for column, value in gain.items():
                table.loc[index, column] = value
    return table
