"""The run summary: a verdict, metric tables beside baselines, plots, curves and stage run times."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from genomix.errors import GenomixError  # noqa: E402
from genomix.explain import logo_folder  # noqa: E402
from genomix.seqio.atomic import atomic_path  # noqa: E402
from genomix.tasks import get_task  # noqa: E402

SUMMARY_ROWS = ("mean", "median")
MODEL = "transformer"  # genomix.evaluate.MODEL: its metric columns carry no suffix
MODEL_NAMES = {
    MODEL: "transformer",
    "kmer_lr": "k-mer LR",
    "cnn": "CNN",
    "scratch": "from scratch",
}
# The same head fine-tuned without pretraining (genomix evaluate --compare scratch=DIR): the
# transformer's difference from it is the gain of pretraining.
SCRATCH = "scratch"
CALL_METRICS = ("f1", "mcc", "accuracy")
# Masked-LM references in pretraining's metrics.csv, on the same held-out masked tokens.
REFERENCES = {
    "valid_unigram_loss": "unigram (training k-mer frequencies)",
    "valid_neighbour_loss": "k-mer counts + bases shown by unmasked neighbours",
}


# what pandas raises for a file that is not a table: binary, truncated gzip, a folder
_UNREADABLE = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    IsADirectoryError,
)


def _read_table(path: Path, sep: str = "\t") -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=sep, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise GenomixError(f"{path}: file not found") from None
    except _UNREADABLE as error:
        reason = " ".join(str(error).split())  # one line
        raise GenomixError(f"{path}: not a readable table ({reason})") from None


def _read_predictions(path: Path) -> pd.DataFrame:
    """A `genomix evaluate --predictions` table: id, profile, label, one column per model."""
    try:
        frame = pd.read_csv(
            path, sep="\t", dtype={"id": str, "profile": str}, keep_default_na=False
        )
    except FileNotFoundError:
        raise GenomixError(f"{path}: file not found") from None
    except _UNREADABLE as error:
        reason = " ".join(str(error).split())  # one line
        raise GenomixError(f"{path}: not a readable table ({reason})") from None
    missing = {"profile", "label", MODEL} - set(frame.columns)
    if missing:
        raise GenomixError(f"{path}: not a predictions table (no {', '.join(sorted(missing))})")
    return frame


def baselines_of(metrics: pd.DataFrame) -> list[str]:
    """Baseline names in a metrics table, in column order (`auroc_<name>` columns)."""
    return [
        column[len("auroc_") :]
        for column in metrics.columns
        if column.startswith("auroc_") and not column.endswith(("_lo", "_hi"))
    ]


def profile_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The per-profile rows of a metrics table: not `mean`/`median`, nor `mean[<group>]` ..."""
    names = metrics["profile"].astype(str)
    return metrics[~(names.isin(SUMMARY_ROWS) | names.str.match(r"(?:mean|median)\["))]


def _column(metric: str, model: str) -> str:
    return metric if model == MODEL else f"{metric}_{model}"


def _estimate(row: pd.Series, column: str) -> str:
    """'0.650 [0.597, 0.704]' (the 95% interval when the table has one), '' when missing."""
    value = row.get(column, np.nan)
    if pd.isna(value):
        return ""
    low, high = row.get(f"{column}_lo", np.nan), row.get(f"{column}_hi", np.nan)
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def comparison_table(metrics: pd.DataFrame, metric: str) -> str:
    """Markdown: one row per profile (summaries too), `metric` of every model, the deltas."""
    baselines = baselines_of(metrics)
    columns: dict[str, list[str]] = {"profile": [], "positives": [], "negatives": []}
    for _, row in metrics.iterrows():
        columns["profile"].append(row["profile"])
        columns["positives"].append(f"{row['n_pos']:g}")
        columns["negatives"].append(f"{row['n_neg']:g}")
        for model in [MODEL, *baselines]:
            name = MODEL_NAMES.get(model, model)
            columns.setdefault(name, []).append(_estimate(row, _column(metric, model)))
        for model in baselines:
            name = f"transformer - {MODEL_NAMES.get(model, model)}"
            columns.setdefault(name, []).append(_estimate(row, f"delta_{metric}_{model}"))
        columns.setdefault("note", []).append(row.get("note") if pd.notna(row.get("note")) else "")
    return pd.DataFrame(columns).to_markdown(index=False, disable_numparse=True)


def calls_table(metrics: pd.DataFrame) -> str:
    """Markdown: one row per model, its metrics and calls on the one output (95% intervals when
    present)."""
    row = metrics.iloc[0]
    lines = []
    for model in [MODEL, *baselines_of(metrics)]:
        line = {"model": MODEL_NAMES.get(model, model)}
        for metric in ("auroc", "auprc", *CALL_METRICS):
            line[metric] = _estimate(row, _column(metric, model))
        threshold = row.get(_column("threshold", model), np.nan)
        line["threshold"] = "" if pd.isna(threshold) else f"{threshold:.3f}"
        lines.append(line)
    return pd.DataFrame(lines).to_markdown(index=False, disable_numparse=True)


def verdict(auroc: float) -> str:
    """A plain warning when an AUROC is near chance, else nothing."""
    if auroc < 0.55:
        return f"AUROC {auroc:.3f} is close to chance (0.5): this head has not learned the task."
    return ""


def comparison_verdict(metrics: pd.DataFrame, *, row: str, what: str) -> str:
    """Plain sentences: the transformer's AUROC on `row` against each baseline's.

    Below a baseline is said in bold. With a bootstrap interval of the difference, the sentence
    says whether it excludes 0 (a clear difference on these rows) or not.
    """
    values = metrics.set_index("profile").loc[row]
    sentences = []
    for model in baselines_of(metrics):
        ours, theirs = values["auroc"], values[f"auroc_{model}"]
        low = values.get(f"delta_auroc_{model}_lo", np.nan)
        high = values.get(f"delta_auroc_{model}_hi", np.nan)
        detail = f"difference {ours - theirs:+.3f}"
        if pd.notna(low):
            clear = "excludes 0" if low > 0 or high < 0 else "includes 0: no clear difference"
            detail += f", 95% interval {low:+.3f} to {high:+.3f}, which {clear}"
        name = MODEL_NAMES.get(model, model)
        if model == SCRATCH:
            gain = "gains" if ours >= theirs else "**loses**"
            sentences.append(
                f"Pretraining {gain} on {what}: AUROC {ours:.3f} from the pretrained encoder "
                f"against {theirs:.3f} for the same head trained from scratch ({detail})."
            )
        elif ours < theirs:
            sentences.append(
                f"**On {what} the transformer is worse than the {name} baseline**: AUROC "
                f"{ours:.3f} against {theirs:.3f} ({detail})."
            )
        else:
            sentences.append(
                f"On {what} the transformer is above the {name} baseline: AUROC {ours:.3f} "
                f"against {theirs:.3f} ({detail})."
            )
    return " ".join(sentences)


def mlm_references(last: pd.Series) -> str:
    """A sentence comparing the held-out MLM loss with the references the metrics hold."""
    parts = [
        f"{last[column]:.3f} for {label} ({last['valid_loss'] - last[column]:+.3f})"
        for column, label in REFERENCES.items()
        if column in last and pd.notna(last[column])
    ]
    return "References on the same masked tokens: " + "; ".join(parts) + "." if parts else ""


def _save(figure: plt.Figure, out: Path) -> Path:
    figure.tight_layout()
    with atomic_path(out) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
    return out


def plot_profile_auroc(metrics: pd.DataFrame, out: Path) -> Path:
    """Dots of AUROC per profile, one colour per model, 95% intervals as bars; PNG, atomically."""
    profiles = profile_rows(metrics).dropna(subset=["auroc"])
    models = [MODEL, *baselines_of(metrics)]
    figure, axes = plt.subplots(figsize=(6.5, 0.4 * len(profiles) + 1.5))
    positions = np.arange(len(profiles))
    for i, model in enumerate(models):
        column = _column("auroc", model)
        y = positions + (i - (len(models) - 1) / 2) * 0.22
        values = profiles[column].to_numpy(dtype=float)
        errors = None
        if f"{column}_lo" in profiles:
            errors = np.abs(
                profiles[[f"{column}_lo", f"{column}_hi"]].to_numpy(dtype=float).T - values
            )
        axes.errorbar(
            values, y, xerr=errors, fmt="o", capsize=2, label=MODEL_NAMES.get(model, model)
        )
    axes.set_yticks(positions, profiles["profile"])
    axes.axvline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    axes.set_xlim(0, 1)
    interval = " (95% bootstrap interval)" if "auroc_lo" in profiles else ""
    axes.set_xlabel(f"AUROC on held-out chromosomes{interval}")
    axes.invert_yaxis()
    axes.legend(loc="lower left", fontsize="small")
    return _save(figure, out)


def plot_curves(panels: Sequence[tuple[str, pd.DataFrame]], out: Path) -> Path:
    """ROC (left) and precision-recall (right) curves, one row per (title, predictions) panel.

    Each predictions frame holds one output: a `label` column and one probability column per
    model (`transformer`, then baselines).
    """
    figure, axes = plt.subplots(len(panels), 2, figsize=(9, 3.6 * len(panels)), squeeze=False)
    for (title, frame), (roc_axes, pr_axes) in zip(panels, axes, strict=True):
        labels = frame["label"].to_numpy()
        for model in [c for c in frame.columns if c not in ("id", "profile", "label")]:
            name = MODEL_NAMES.get(model, model)
            fpr, tpr, _ = roc_curve(labels, frame[model])
            precision, recall, _ = precision_recall_curve(labels, frame[model])
            roc_axes.plot(fpr, tpr, label=name)
            pr_axes.step(recall, precision, where="post", label=name)
        roc_axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        pr_axes.axhline(labels.mean(), color="grey", linestyle="--", linewidth=1)
        roc_axes.set(title=f"{title} ROC", xlabel="false positive rate", ylabel="true pos. rate")
        pr_axes.set(title=f"{title} precision-recall", xlabel="recall", ylabel="precision")
        roc_axes.legend(loc="lower right", fontsize="small")
    return _save(figure, out)


def plot_pretrain_curve(curves: Mapping[str, pd.DataFrame], out: Path) -> Path:
    """Per encoder (name -> its metrics.csv), training and held-out MLM loss against step, with
    the held-out references as dashed lines; saved as PNG, atomically."""
    figure, all_axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 3.5), squeeze=False)
    for axes, (name, metrics) in zip(all_axes[0], curves.items(), strict=True):
        axes.plot(metrics["step"], metrics["train_loss"], label="train (masked tokens)")
        axes.plot(metrics["step"], metrics["valid_loss"], label="held-out", marker="o")
        for column, label in REFERENCES.items():
            if column in metrics:
                value = metrics[column].iloc[-1]
                axes.axhline(value, linestyle="--", color="grey", linewidth=1)
                axes.annotate(label, (metrics["step"].iloc[0], value), fontsize=8)
        axes.set(title=name, xlabel="step", ylabel="MLM cross-entropy (nats)")
        axes.legend()
    return _save(figure, out)


def plot_finetune_curves(curves: Mapping[str, pd.DataFrame], out: Path) -> Path:
    """Per head: training loss (left) and every `valid_*` metric (right) at each validation,
    against the step (the epoch for curves written before steps were logged)."""
    figure, (loss_axes, valid_axes) = plt.subplots(1, 2, figsize=(9, 3.5))
    axis = "step" if all("step" in frame for frame in curves.values()) else "epoch"
    for head, frame in curves.items():
        loss_axes.plot(frame[axis], frame["train_loss"], marker="o", label=head)
        for column in [c for c in frame.columns if c.startswith("valid_")]:
            valid_axes.plot(frame[axis], frame[column], marker="o", label=f"{head} {column}")
    loss_axes.set(xlabel=axis, ylabel="training BCE loss", title="fine-tuning loss")
    valid_axes.set(xlabel=axis, ylabel="validation metric", title="validation")
    loss_axes.legend(fontsize="small")
    valid_axes.legend(fontsize="small")
    return _save(figure, out)


def stage_times(benchmarks: Sequence[Path]) -> pd.DataFrame:
    """One row per Snakemake benchmark file: stage (file stem), seconds, peak RSS in MB."""
    rows = []
    for path in benchmarks:
        frame = _read_table(path)
        rows.append(
            {
                "stage": path.stem,
                "seconds": frame["s"].iloc[0],
                "max_rss_mb": frame["max_rss"].iloc[0],
            }
        )
    return pd.DataFrame(rows)


def base_importance(explained: pd.DataFrame) -> pd.DataFrame:
    """Per-base importance of an explain table: one row per (id, output, position) with the
    reference base and ``importance`` = minus the mean logit_diff of its three alternatives."""
    grouped = explained.groupby(["id", "output", "position"], sort=True)
    frame = grouped.agg(ref=("ref", "first"), importance=("logit_diff", "mean")).reset_index()
    frame["importance"] = -frame["importance"]
    return frame


def explanation_reading(head: str, explained: pd.DataFrame, *, width: int = 12) -> str:
    """One sentence on an explain table: the `width` consecutive bases of largest summed absolute
    importance over its records and outputs, what they do to the logit, and their share of their
    record's absolute importance."""
    best = None
    for (record, output), rows in base_importance(explained).groupby(["id", "output"]):
        values = rows["importance"].to_numpy()
        span = min(width, len(values))
        sums = np.convolve(np.abs(values), np.ones(span), mode="valid")
        start = int(np.argmax(sums))
        if best is None or sums[start] > best[0]:
            best = (sums[start], record, output, start, span, rows)
    if best is None:
        return f"{head}: no records were explained."
    magnitude, record, output, start, span, rows = best
    stretch = rows.iloc[start : start + span]
    share = magnitude / max(np.abs(rows["importance"]).sum(), 1e-12)
    return (
        f"{head}: the {span} bases with the most importance are `{''.join(stretch['ref'])}` at "
        f"positions {start}-{start + span - 1} of '{record}' ({output}); against the average "
        f"other base they move its logit by {stretch['importance'].sum():+.2f} together, "
        f"{share:.0%} of the record's absolute importance over {len(rows)} bases (an even "
        f"spread would be {span / len(rows):.0%})."
    )


def explanation_sections(explanations: Mapping[str, str | Path], out: Path) -> list[str]:
    """The report's section on `genomix explain` tables (head -> table), with their logos
    (PNGs in the table's default logo folder) linked relative to the report `out`."""
    sections = [
        "## Which bases drive the calls (genomix explain)",
        "Each logo shows the reference bases of a top-scoring test record, as tall as their "
        "importance: minus the mean change of the logit over the three other bases (up: the base "
        "raises the score). The stretch of largest absolute importance is shown.",
    ]
    for head, path in explanations.items():
        sections.append(explanation_reading(head, pd.read_parquet(path)))
        for png in sorted(logo_folder(path).glob("*.png")):
            sections.append(f"![{head} {png.stem}]({os.path.relpath(png, out.parent)})")
    return sections


def write_report(
    out: str | Path,
    *,
    heads: Mapping[str, str],
    metrics: Mapping[str, str | Path],
    pretrain_metrics: str | Path | Sequence[str | Path],
    predictions: Mapping[str, str | Path] | None = None,
    finetune_metrics: Mapping[str, str | Path] | None = None,
    benchmarks: Sequence[str | Path] = (),
    explanations: Mapping[str, str | Path] | None = None,
) -> Path:
    """Write a markdown report `out` with its PNG plots beside it (`<stem>_*.png`).

    `heads` maps each head to its task kind (`genomix.tasks`), in report order; `metrics` maps
    each head to its `genomix evaluate` table, `predictions` (optional) to its predictions table.
    Each head's task kind writes the head's section (a multilabel head's per-profile plot is
    `<stem>_<head>_auroc.png`). `explanations` (head -> `genomix explain` table) adds a section
    with their logos. `pretrain_metrics`: the metrics.csv of each pretrained encoder (one shared,
    or one per head), each named by its model directory.

    Always: `_pretrain_curve.png`; `_curves.png` (ROC and PR) with any predictions table;
    `_finetune_curve.png` with `finetune_metrics` (head -> its metrics.csv).
    """
    out = Path(out)
    predictions = predictions or {}
    for given, flag in ((metrics, "metrics"), (predictions, "predictions")):
        unknown = sorted(set(given) - set(heads))
        if unknown:
            raise GenomixError(f"{flag} of {', '.join(unknown)}: not among the heads given")
    missing = sorted(set(heads) - set(metrics))
    if missing:
        raise GenomixError(f"no metrics table for head {', '.join(missing)}")
    tasks = {head: get_task(kind) for head, kind in heads.items()}
    tables = {head: _read_table(Path(metrics[head])) for head in heads}
    if isinstance(pretrain_metrics, (str, Path)):
        pretrain_metrics = [pretrain_metrics]
    curves = {Path(path).parent.name: _read_table(Path(path), sep=",") for path in pretrain_metrics}
    curve_png = plot_pretrain_curve(curves, out.with_name(f"{out.stem}_pretrain_curve.png"))
    sections = ["# genomix run report"]
    verdicts = []
    for head, table in tables.items():
        row, what = tasks[head].verdict_row(head, table)
        verdicts.append(comparison_verdict(table, row=row, what=what))
    if any(verdicts):
        sections += ["## Verdict: transformer against baselines trained on the same rows"]
        sections += [v for v in verdicts if v]
    for head, table in tables.items():
        sections += tasks[head].report_section(head, table, out)
    panels = [
        panel
        for head, path in predictions.items()
        for panel in tasks[head].curve_panels(head, tables[head], _read_predictions(Path(path)))
    ]
    if panels:
        curves_png = plot_curves(panels, out.with_name(f"{out.stem}_curves.png"))
        sections += [
            "## ROC and precision-recall curves (test rows)",
            f"![ROC and PR curves]({curves_png.name})",
        ]
    sections += ["## Masked-LM pretraining"]
    for name, curve in curves.items():
        last = curve.iloc[-1]
        sections.append(
            f"{name}: after {int(last['step'])} steps, held-out loss {last['valid_loss']:.3f}, "
            f"masked-token accuracy {last['valid_accuracy']:.3f}, perplexity "
            f"{last['valid_perplexity']:.1f}. " + mlm_references(last)
        )
    sections.append(f"![MLM loss]({curve_png.name})")
    if finetune_metrics:
        heads = {head: _read_table(Path(path), sep=",") for head, path in finetune_metrics.items()}
        finetune_png = plot_finetune_curves(heads, out.with_name(f"{out.stem}_finetune_curve.png"))
        sections += [
            "## Fine-tuning (at each validation; the best validation's weights are kept)",
            f"![fine-tuning curves]({finetune_png.name})",
        ]
    if explanations:
        sections += explanation_sections(explanations, out)
    for path in pretrain_metrics:
        spans = Path(path).with_name("spans.tsv")
        if spans.is_file():
            table = _read_table(spans).pivot(index="layer", columns="head", values="span")
            table.columns = [f"head {head}" for head in table.columns]
            sections += [
                f"## Learned attention spans of {Path(path).parent.name} (adaptive_span, tokens)",
                table.reset_index().to_markdown(index=False, floatfmt=".0f"),
            ]
    if benchmarks:
        sections += [
            "## Stage run times (Snakemake benchmark files)",
            stage_times([Path(p) for p in benchmarks]).to_markdown(index=False, floatfmt=".1f"),
        ]
    with atomic_path(out) as temporary:
        temporary.write_text("\n\n".join(sections) + "\n")
    return out
