"""The attention/context sweep's outputs: its table as TSV and markdown, a verdict on context,
and one plot (the table itself comes from `genomix.sweep.sweep_table`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genomix.seqio.atomic import atomic_path, write_tsv  # noqa: E402
from genomix.sweep import HEADS, sweep_table  # noqa: E402


def _estimate(row: pd.Series, column: str) -> str:
    """'0.650 [0.597, 0.704]', '0.650' without an interval, '' when missing."""
    value = row.get(column, np.nan)
    if pd.isna(value):
        return ""
    low, high = row.get(f"{column}_lo", np.nan), row.get(f"{column}_hi", np.nan)
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _gain(row: pd.Series) -> str:
    """'+0.012 [-0.010, +0.034] vs bigbird_flank100', '' for a row without a context gain."""
    if pd.isna(row.get("context_gain", np.nan)):
        return ""
    text = f"{row['context_gain']:+.3f}"
    if pd.notna(row.get("context_gain_lo", np.nan)):
        text += f" [{row['context_gain_lo']:+.3f}, {row['context_gain_hi']:+.3f}]"
    return f"{text} vs {row['context_reference']}"


def context_verdict(table: pd.DataFrame) -> str:
    """Plain sentences: per longer context, did its chromatin AUROC beat the shortest's?"""
    if "context_gain" not in table:
        return "Each attention kind ran at one chromatin context only: no context comparison."
    sentences = []
    for _, row in table.dropna(subset=["context_gain"]).iterrows():
        reference = table.set_index("variant").loc[row["context_reference"]]
        sentence = (
            f"{row['attention']}, {row['context_bp']:.0f} bp against {reference['context_bp']:.0f}"
            f" bp: chromatin mean AUROC {row['chromatin_auroc']:.3f} against "
            f"{reference['chromatin_auroc']:.3f}, paired difference {row['context_gain']:+.3f} on "
            f"{row['context_rows']:.0f} common test bins"
        )
        low, high = row.get("context_gain_lo", np.nan), row.get("context_gain_hi", np.nan)
        if pd.isna(low):
            sentence += " (no bootstrap interval)."
        elif low > 0:
            sentence += f" (95% interval {low:+.3f} to {high:+.3f}): the longer context helped."
        elif high < 0:
            sentence += f" (95% interval {low:+.3f} to {high:+.3f}): the longer context hurt."
        else:
            sentence += (
                f" (95% interval {low:+.3f} to {high:+.3f}, which includes 0): no clear difference."
            )
        sentences.append(sentence)
    return "\n".join(f"- {sentence}" for sentence in sentences)


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
                "chromatin gain over shortest context": _gain(row),
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
    bootstrap: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Gather the variants' results into `tsv`, `markdown` (the table, then the context
    verdict) and the `plot` PNG; `bootstrap` paired resamples give the context gain's interval.
    Returns the table."""
    table = sweep_table(
        [Path(f) for f in folders], [Path(b) for b in benchmarks], bootstrap=bootstrap, seed=seed
    )
    write_tsv(table, tsv)
    with atomic_path(markdown) as temporary:
        temporary.write_text(f"{table_markdown(table)}\n\n{context_verdict(table)}\n")
    plot_sweep(table, plot)
    return table
