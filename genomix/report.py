"""The run summary: metric tables, a per-profile AUROC plot, the MLM curve and stage run times."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from genomix.errors import GenomixError  # noqa: E402
from genomix.io import atomic_path  # noqa: E402

SUMMARY_ROWS = ("mean", "median")


def _read_table(path: Path, sep: str = "\t") -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=sep, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise GenomixError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise GenomixError(f"{path}: not a readable table ({error})") from None


def _markdown(table: pd.DataFrame) -> str:
    """Scores with 3 decimals, counts as plain numbers, empty notes left empty."""
    formats = ["g" if column in ("n_pos", "n_neg") else ".3f" for column in table.columns]
    return table.fillna({"note": ""}).to_markdown(index=False, floatfmt=formats)


def _verdict(auroc: float) -> str:
    """A plain warning when an AUROC is near chance, else nothing."""
    if auroc < 0.55:
        return f"AUROC {auroc:.3f} is close to chance (0.5): this head has not learned the task."
    return ""


def plot_profile_auroc(metrics: pd.DataFrame, out: Path) -> Path:
    """Horizontal bars of AUROC per profile (chance at 0.5 marked); saved as PNG, atomically."""
    profiles = metrics[~metrics["profile"].isin(SUMMARY_ROWS)].dropna(subset=["auroc"])
    figure, axes = plt.subplots(figsize=(6, 0.35 * len(profiles) + 1.2))
    axes.barh(profiles["profile"], profiles["auroc"], color="#3b75af")
    axes.axvline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    axes.set_xlim(0, 1)
    axes.set_xlabel("AUROC on held-out chromosomes")
    axes.invert_yaxis()
    axes.legend(loc="lower right")
    figure.tight_layout()
    with atomic_path(out) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
    return out


def plot_pretrain_curve(metrics: pd.DataFrame, out: Path) -> Path:
    """Training and validation MLM loss against step; saved as PNG, atomically."""
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(metrics["step"], metrics["train_loss"], label="train (masked tokens)")
    axes.plot(metrics["step"], metrics["valid_loss"], label="held-out tail", marker="o")
    axes.set_xlabel("step")
    axes.set_ylabel("MLM cross-entropy (nats)")
    axes.legend()
    figure.tight_layout()
    with atomic_path(out) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
    return out


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


def write_report(
    out: str | Path,
    *,
    chromatin: str | Path,
    promoter: str | Path,
    pretrain_metrics: str | Path,
    benchmarks: Sequence[str | Path] = (),
) -> Path:
    """Write a markdown report `out` with its two PNG plots beside it (`<stem>_*.png`)."""
    out = Path(out)
    chromatin_table = _read_table(Path(chromatin))
    promoter_table = _read_table(Path(promoter))
    curve = _read_table(Path(pretrain_metrics), sep=",")
    auroc_png = plot_profile_auroc(
        chromatin_table, out.with_name(f"{out.stem}_chromatin_auroc.png")
    )
    curve_png = plot_pretrain_curve(curve, out.with_name(f"{out.stem}_pretrain_curve.png"))
    mean = chromatin_table.set_index("profile").loc["mean"]
    promoter_row = promoter_table.iloc[0]
    last = curve.iloc[-1]
    sections = [
        "# genomix run report",
        "## Chromatin profiles (held-out chromosomes)",
        f"Mean AUROC {mean['auroc']:.3f}, mean AUPRC {mean['auprc']:.3f} ({mean['note']}). "
        + _verdict(mean["auroc"]),
        _markdown(chromatin_table),
        f"![per-profile AUROC]({auroc_png.name})",
        "## Promoters (test split)",
        _markdown(promoter_table),
        "F1, MCC and accuracy are at the threshold chosen on the validation split. "
        + _verdict(promoter_row["auroc"]),
        "## Masked-LM pretraining",
        f"After {int(last['step'])} steps: held-out loss {last['valid_loss']:.3f}, masked-token "
        f"accuracy {last['valid_accuracy']:.3f}, perplexity {last['valid_perplexity']:.1f}.",
        f"![MLM loss]({curve_png.name})",
    ]
    spans = Path(pretrain_metrics).with_name("spans.tsv")
    if spans.is_file():
        table = _read_table(spans).pivot(index="layer", columns="head", values="span")
        table.columns = [f"head {head}" for head in table.columns]
        sections += [
            "## Learned attention spans (adaptive_span, tokens)",
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
