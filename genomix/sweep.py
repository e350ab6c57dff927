"""The attention/context sweep: which variants to train, and one table and plot of their results.

A sweep (config section `sweep`, run by workflows/sweep.smk) trains the recipe of config.yaml
once per variant, changing only what the sweep varies:

- every attention kind of `sweep.attention`, at the chromatin flank of config.yaml, with both heads;
- the kinds of `sweep.flank_attention` at each other flank of `sweep.flanks`, chromatin head only.

Every variant labels the same chromatin bins (`chromatin.margin` = the widest flank), so the
contexts are scored on the same test rows, and its `model.max_tokens` is what its chromatin window
needs, so pretraining windows are as long as the fine-tuning context. `sweep_table` gathers what
each variant wrote: the held-out MLM loss beside its unigram and neighbour references, each head's
test AUROC, pretraining tokens/s, and run time and peak memory from Snakemake's benchmark files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genomix.config import ChromatinConfig, TokenizeConfig  # noqa: E402
from genomix.errors import GenomixError  # noqa: E402
from genomix.io import atomic_path, write_tsv  # noqa: E402
from genomix.kmers import KmerTokenizer  # noqa: E402

HEADS = ("promoter", "chromatin")
# Per head: the metrics file `genomix evaluate` writes in the variant's folder, and its summary row
# (chromatin: the mean over profiles; promoter: its one output, the first row).
METRICS_FILES = {"promoter": "promoter_metrics.tsv", "chromatin": "chromatin_auroc.tsv"}
SUMMARY_ROW = {"promoter": None, "chromatin": "mean"}
# Snakemake benchmark file (stem) of each head's fine-tuning -> the head (beside pretrain.tsv).
STAGES = {"finetune_promoter": "promoter", "finetune_chromatin": "chromatin"}
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
            "model": {"attention": self.attention, "max_tokens": self.max_tokens},
            "chromatin": {"flank": self.flank, "margin": self.margin},
        }


def plan_variants(config: Mapping[str, Any]) -> list[Variant]:
    """The variants of a whole config.yaml's `sweep` section, kinds first, then extra flanks.

    Raises:
        GenomixError: a kind of `sweep.flank_attention` missing from `sweep.attention`.
    """
    sweep = config["sweep"]
    chromatin = config["chromatin"]
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
    variant's overrides merged key by key into their sections."""
    merged = {key: value for key, value in config.items() if key != "sweep"}
    for section, values in variant.overrides().items():
        merged[section] = {**merged.get(section, {}), **values}
    merged["run"] = f"{config['run']}/{variant.name}"
    return merged


def _read(path: Path, sep: str = "\t") -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise GenomixError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
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
        "attention": pretrained["model"]["attention"],
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


def sweep_table(folders: Sequence[Path], benchmarks: Sequence[Path]) -> pd.DataFrame:
    """(V, C) one row per variant folder, in order, each with its benchmark folder; a head that
    a variant did not train is blank."""
    if not folders:
        raise GenomixError("sweep-table: no variant folders given")
    if len(folders) != len(benchmarks):
        raise GenomixError(
            f"sweep-table: {len(folders)} variant folders but {len(benchmarks)} benchmark "
            "folders; give one benchmark folder per variant, in the same order"
        )
    return pd.DataFrame(
        [variant_row(Path(f), Path(b)) for f, b in zip(folders, benchmarks, strict=True)]
    )


def _estimate(row: pd.Series, column: str) -> str:
    """'0.650 [0.597, 0.704]', '0.650' without an interval, '' when missing."""
    value = row.get(column, np.nan)
    if pd.isna(value):
        return ""
    low, high = row.get(f"{column}_lo", np.nan), row.get(f"{column}_hi", np.nan)
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _number(row: pd.Series, column: str, form: str) -> str:
    value = row.get(column, np.nan)
    return "" if pd.isna(value) else format(value, form)


def table_markdown(table: pd.DataFrame) -> str:
    """Markdown of `sweep_table`: one line per variant, AUROCs with their 95% intervals."""
    lines = []
    for _, row in table.iterrows():
        lines.append(
            {
                "variant": row["variant"],
                "attention": row["attention"],
                "context bp": _number(row, "context_bp", ".0f"),
                "max tokens": _number(row, "max_tokens", ".0f"),
                "MLM loss": _number(row, "mlm_loss", ".3f"),
                "unigram": _number(row, "mlm_unigram_loss", ".3f"),
                "neighbour": _number(row, "mlm_neighbour_loss", ".3f"),
                "promoter AUROC": _estimate(row, "promoter_auroc"),
                "chromatin mean AUROC": _estimate(row, "chromatin_auroc"),
                "chromatin k-mer LR": _number(row, "chromatin_auroc_kmer_lr", ".3f"),
                "pretrain tokens/s": _number(row, "pretrain_tokens_per_s", ",.0f"),
                "pretrain s": _number(row, "pretrain_s", ".1f"),
                "fine-tune s (prom., chrom.)": ", ".join(
                    _number(row, f"{head}_s", ".1f") or "-" for head in HEADS
                ),
                "peak MB (pretrain, prom., chrom.)": ", ".join(
                    _number(row, f"{stage}_max_rss_mb", ".0f") or "-"
                    for stage in ("pretrain", *HEADS)
                ),
            }
        )
    return pd.DataFrame(lines).to_markdown(index=False, disable_numparse=True)


def _interval(frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """(2, N) distances of the 95% interval from the value, for `errorbar`; None without one."""
    if f"{column}_lo" not in frame:
        return None
    bounds = frame[[f"{column}_lo", f"{column}_hi"]].to_numpy(dtype=float).T
    return np.abs(bounds - frame[column].to_numpy(dtype=float))


def plot_sweep(table: pd.DataFrame, out: str | Path) -> Path:
    """Four panels, PNG written atomically: MLM loss beside its references; chromatin AUROC by
    context per kind; promoter AUROC per kind; pretraining tokens/s against peak memory."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    mlm, context, promoter, cost = axes.ravel()
    x = np.arange(len(table))
    # Points, not bars from 0: the gaps that matter (model against references) are tenths of a nat.
    mlm.plot(x, table["mlm_loss"], "o", color="tab:blue", label="model (held out)")
    references = (
        ("mlm_unigram_loss", "black", "unigram"),
        ("mlm_neighbour_loss", "tab:green", "neighbour"),
    )
    for column, colour, name in references:
        if column in table:
            mlm.plot(x, table[column], "_", color=colour, markersize=18, mew=2, label=name)
    mlm.set_xticks(x, table["variant"], rotation=45, ha="right", fontsize="small")
    mlm.set_xlim(-0.5, len(table) - 0.5)
    mlm.set(ylabel="masked-token cross-entropy (nats)", title="masked LM: lower is better")
    mlm.legend(fontsize="small")

    if "chromatin_auroc" in table:
        for kind, rows in table.dropna(subset=["chromatin_auroc"]).groupby("attention", sort=False):
            rows = rows.sort_values("context_bp")
            context.errorbar(
                rows["context_bp"],
                rows["chromatin_auroc"],
                yerr=_interval(rows, "chromatin_auroc"),
                marker="o",
                capsize=3,
                label=kind,
            )
    context.set(
        xlabel="chromatin window (bp: bin + both flanks)",
        ylabel="test mean AUROC",
        title="chromatin head by context",
    )
    context.legend(fontsize="small")

    if "promoter_auroc" in table:
        rows = table.dropna(subset=["promoter_auroc"])
        spots = np.arange(len(rows))
        promoter.errorbar(
            spots,
            rows["promoter_auroc"],
            yerr=_interval(rows, "promoter_auroc"),
            fmt="o",
            capsize=3,
        )
        promoter.set_xticks(spots, rows["attention"], rotation=45, ha="right", fontsize="small")
        promoter.set_xlim(-0.5, len(rows) - 0.5)
    promoter.set(ylabel="test AUROC", title="promoter head")

    cost.scatter(table["pretrain_tokens_per_s"], table["pretrain_max_rss_mb"])
    for _, row in table.iterrows():
        cost.annotate(
            row["variant"],
            (row["pretrain_tokens_per_s"], row["pretrain_max_rss_mb"]),
            fontsize="x-small",
            xytext=(3, 3),
            textcoords="offset points",
        )
    cost.set(
        xlabel="pretraining tokens/s",
        ylabel="pretraining peak memory (max_rss, MB)",
        title="cost",
    )
    figure.tight_layout()
    out = Path(out)
    with atomic_path(out) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return out


def write_sweep(
    folders: Sequence[str | Path],
    benchmarks: Sequence[str | Path],
    *,
    tsv: str | Path,
    markdown: str | Path,
    plot: str | Path,
) -> pd.DataFrame:
    """Gather the variants' results into `tsv`, `markdown` and the `plot` PNG; returns the table."""
    table = sweep_table([Path(f) for f in folders], [Path(b) for b in benchmarks])
    write_tsv(table, tsv)
    with atomic_path(markdown) as temporary:
        temporary.write_text(table_markdown(table) + "\n")
    plot_sweep(table, plot)
    return table
