"""Sequence logos of per-base importance (logomaker), one PNG per model output.

Each panel is one record: the reference letter at each position, as tall as its importance
(``genomix.attribution.importance``): up where the base raises the output, down where it lowers
it. A panel shows the `width` bases whose summed absolute importance is largest, so the logo of a
1 kb record stays legible, or for a VCF allele's windows the `width` bases around the allele
(shaded); its axis is in record positions (0-based) or, for BED records, in genome coordinates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import logomaker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genomix.attribution import BASES, ExplainedRecord
from genomix.seqio.atomic import atomic_path
from genomix.seqio.regions import AlleleWindow, GenomicRecord


def busiest_span(values: np.ndarray, width: int) -> slice:
    """The `width` consecutive positions of (L,) `values` with the largest sum of absolute
    values (the first such span on ties); the whole record when it is shorter."""
    if len(values) <= width:
        return slice(0, len(values))
    sums = np.convolve(np.abs(values), np.ones(width), mode="valid")
    start = int(np.argmax(sums))
    return slice(start, start + width)


def importance_matrix(sequence: str, values: np.ndarray) -> pd.DataFrame:
    """(L, 4) frame, columns A C G T: each position's value under its reference base, else 0."""
    matrix = np.zeros((len(sequence), len(BASES)))
    matrix[np.arange(len(sequence)), [BASES.index(base) for base in sequence]] = values
    return pd.DataFrame(matrix, columns=list(BASES))


def allele_span(record: AlleleWindow, width: int) -> slice:
    """The `width` positions of an allele window centred on its allele, within the window."""
    length = len(record.sequence)
    if length <= width:
        return slice(0, length)
    centre = record.allele_start + record.allele_length // 2
    start = min(max(0, centre - width // 2), length - width)
    return slice(start, start + width)


def draw_logos(
    records: Sequence[ExplainedRecord],
    outputs: Sequence[str],
    folder: str | Path,
    *,
    top: int,
    width: int = 60,
    method: str = "ism",
) -> tuple[Path, ...]:
    """Draw the `top` records of highest logit for each output into ``folder/<output>.png``.

    Records that are ``AlleleWindow`` pairs (VCF alleles) are drawn instead as the `top` alleles
    of largest absolute logit change (alt - ref) for each output, the reference window's panel
    above the alternative's, both centred on the allele. Returns the PNG paths, in the order of
    `outputs`. Each file is written atomically.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = _allele_pairs(records)
    paths = []
    for index, output in enumerate(outputs):
        if pairs:
            ranked_pairs = sorted(
                pairs, key=lambda p: -abs(float(p[1].logits[index] - p[0].logits[index]))
            )
            ranked = [record for pair in ranked_pairs[:top] for record in pair]
        else:
            ranked = sorted(records, key=lambda r: -float(r.logits[index]))[:top]
        figure = Figure(figsize=(max(6.0, 0.18 * width), 1.9 * max(1, len(ranked))))
        axes = figure.subplots(max(1, len(ranked)), 1, squeeze=False)[:, 0]
        for ax, record in zip(axes, ranked, strict=False):
            _panel(ax, record, index, width)
        figure.suptitle(f"{output}: {method} importance of the reference base (logit units)")
        figure.tight_layout()
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', output)}.png"
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=110)
        paths.append(path)
    return tuple(paths)


def _allele_pairs(
    records: Sequence[ExplainedRecord],
) -> list[tuple[ExplainedRecord, ExplainedRecord]]:
    """(ref, alt) pairs of records that are the two windows of one VCF allele, in input order;
    empty unless every record is an ``AlleleWindow`` with its partner present."""
    if not records or not all(isinstance(r.record, AlleleWindow) for r in records):
        return []
    windows: dict[str, dict[str, ExplainedRecord]] = {}
    for record in records:
        windows.setdefault(record.record.label, {})[record.record.kind] = record
    return [(w["ref"], w["alt"]) for w in windows.values() if {"ref", "alt"} <= set(w)]


def _panel(ax, explained: ExplainedRecord, output: int, width: int) -> None:
    """One record's logo on `ax` for output `output`: `width` bases around its allele (VCF
    windows) or of largest absolute importance (others)."""
    record = explained.record
    values = explained.importance[:, output]
    if isinstance(record, AlleleWindow):
        span = allele_span(record, width)
    else:
        span = busiest_span(values, width)
    frame = importance_matrix(record.sequence[span], values[span])
    frame.index = np.arange(span.start, span.stop)
    logomaker.Logo(frame, ax=ax, color_scheme="classic")
    ax.axhline(0, color="black", linewidth=0.5)
    ticks = np.asarray(frame.index[:: max(1, len(frame) // 6)])
    ax.set_xticks(ticks)
    if isinstance(record, GenomicRecord):
        ax.set_xticklabels([str(p) for p in record.genome_positions(ticks)])
        reversed_ = ", record reversed" if record.strand == "-" else ""
        ax.set_xlabel(f"{record.chrom} (0-based, {record.strand} strand{reversed_})", fontsize=8)
    else:
        ax.set_xlabel("position in record (0-based)", fontsize=8)
    if isinstance(record, AlleleWindow):
        end = record.allele_start + record.allele_length
        ax.axvspan(record.allele_start - 0.5, end - 0.5, color="grey", alpha=0.15)
    ax.set_ylabel("importance", fontsize=8)
    ax.set_title(f"{record.id}  (logit {float(explained.logits[output]):.2f})", fontsize=9)
