"""Does attribution find real biology? CTCF core motifs under the chromatin head's top bases, and
where along a promoter the promoter head's importance sits. One markdown table.

    python bench/explain_biology.py \\
        --chromatin results/demo/chromatin --chromatin-table results/demo/labels/chromatin.tsv.gz \\
        --genome results/genomes/dm3_segments.fa \\
        --promoter results/demo/promoter --promoter-table data/demo/epdnew_promoters_demo.tsv.gz \\
        [--method ism] [--windows 20] [--promoters 50]

Chromatin: test windows positive for a CTCF profile (CTCF_Kc, CTCF_Mbn2; a seeded sample of
`--windows` each). Per window, the `--top-bases` bases of highest importance for that profile
(`genomix.attribution.importance`: up = the base supports the call) are compared with the bases
covered by matches, on either strand, of the CTCF core consensus CCGCGNGGNGGCAG (Kim et al.,
Cell 2007, 128:1231; N matches any base) with at most `--mismatches` mismatches at its 12 fixed
bases (default 3: a 1 kb window of random, equiprobable bases holds 0.8 such matches on its two
strands, so the control fraction is measurable; with 2 it holds 0.07). Enrichment = (fraction
of top bases on a match) / (fraction of all bases on a match): the second fraction is what the
top bases would give if importance were shuffled over the positions of their window (the
shuffled control), so 1 = no enrichment. 95% interval: bootstrap
over windows (`--bootstrap` resamples, seed 0).

Promoters: positive test rows (300 bp, TSS at index 249: -249..+50). Mean importance and mean
absolute importance per region (TATA box -35..-20, Inr -2..+4, and the rest: -249..-101,
-100..-36, -19..-3, +5..+50), each as a ratio to the record's mean absolute importance per base
(1 = an even spread), with bootstrap intervals over records; then the same ratio on the bases of
exact matches of the TATA box (TATAWAWR, starting -36..-24) and of the Inr (YYANWYY, its A on
the TSS), in the promoters that have one (consensuses as reviewed by Juven-Gershon and
Kadonaga, Dev Biol 2010, 339:225).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genomix.attribution import METHODS, importance
from genomix.checkpoint import load_classifier
from genomix.data.tables import LabeledTable, read_labeled_table
from genomix.runtime import resolve_device
from genomix.seqio.regions import reverse_complement

CTCF_CORE = "CCGCGNGGNGGCAG"
CTCF_PROFILES = ("CTCF_Kc", "CTCF_Mbn2")
TSS_INDEX = 249
IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "W": "[AT]", "R": "[AG]", "Y": "[CT]", "N": "."}
# core promoter elements (forward strand), with the window their first base may start in
# relative to the TSS: TATA box TATAWAWR about -31..-24; Inr YYANWYY with its A at +1
PROMOTER_MOTIFS = (
    ("TATA box TATAWAWR starting -36..-24", "TATAWAWR", (-36, -24)),
    ("Inr YYANWYY at -2..+4", "YYANWYY", (-2, -2)),
)
PROMOTER_REGIONS = {  # positions relative to the TSS, inclusive
    "distal -249..-101": (-249, -101),
    "proximal -100..-36": (-100, -36),
    "TATA -35..-20": (-35, -20),
    "-19..-3": (-19, -3),
    "Inr -2..+4": (-2, 4),
    "downstream +5..+50": (5, 50),
}


def motif_mask(sequence: str, motif: str = CTCF_CORE, mismatches: int = 2) -> np.ndarray:
    """(L,) bool: bases covered by a match of `motif` (N = any base) on either strand with at
    most `mismatches` mismatches at its fixed bases."""
    covered = np.zeros(len(sequence), dtype=bool)
    width = len(motif)
    for pattern in (motif, reverse_complement(motif)):
        fixed = [(i, base) for i, base in enumerate(pattern) if base != "N"]
        for start in range(len(sequence) - width + 1):
            wrong = sum(sequence[start + i] != base for i, base in fixed)
            if wrong <= mismatches:
                covered[start : start + width] = True
    return covered


def top_bases(values: np.ndarray, count: int) -> np.ndarray:
    """(L,) bool: the `count` positions of highest `values` (first positions on ties)."""
    chosen = np.zeros(len(values), dtype=bool)
    chosen[np.argsort(-values, kind="stable")[:count]] = True
    return chosen


def bootstrap(
    numerator: np.ndarray, denominator: np.ndarray, resamples: int, seed: int = 0
) -> tuple[float, float]:
    """95% interval of sum(numerator) / sum(denominator) over resampled rows; resamples whose
    denominator is 0 are left out (nan when all are)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(numerator), size=(resamples, len(numerator)))
    totals = denominator[rows].sum(1)
    ratios = numerator[rows].sum(1)[totals > 0] / totals[totals > 0]
    if not len(ratios):
        return float("nan"), float("nan")
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def _attributions(
    model_dir: Path, table: LabeledTable, rows: Sequence[int], args: argparse.Namespace
) -> list[np.ndarray]:
    """Per-base importance (L, P) of each of `rows` of `table`, by `args.method`."""
    torch.set_num_threads(args.threads)
    model, tokenizer, metadata = load_classifier(model_dir)
    device = resolve_device(args.device)
    model.to(device)
    pad_to = tokenizer.tokens_for_length(int(metadata["window_bases"])) + 1
    options = {"batch_size": args.batch_size, "device": device, "pad_to": pad_to}
    method = args.method
    return [
        importance(METHODS[method](model, tokenizer, table.sequences[i], **options)[1])
        for i in rows
    ]


def _sample(candidates: np.ndarray, count: int) -> list[int]:
    """A seeded sample of `count` of `candidates` (all when fewer), in table order."""
    if len(candidates) > count:
        candidates = np.sort(np.random.default_rng(0).choice(candidates, count, replace=False))
    return candidates.tolist()


def ctcf_rows(args: argparse.Namespace) -> list[str]:
    """Markdown rows of the CTCF motif check, one per CTCF profile."""
    model_dir = args.chromatin
    metadata = load_classifier(model_dir)[2]
    table = read_labeled_table(
        args.chromatin_table,
        task="chromatin",
        genome=args.genome,
        seed=metadata["finetune"]["seed"],
    ).subset("test")
    samples = {}
    for profile in CTCF_PROFILES:
        if profile in table.profiles:
            positive = np.flatnonzero(table.labels[:, table.profiles.index(profile)] > 0)
            clean = np.array([i for i in positive if "N" not in table.sequences[i]], dtype=int)
            samples[profile] = _sample(clean, args.windows)
    # a window positive for both profiles is attributed once: ISM gives every output at once
    union = sorted({i for rows in samples.values() for i in rows})
    values = dict(zip(union, _attributions(model_dir, table, union, args), strict=True))
    lines = []
    for profile, rows in samples.items():
        column = list(metadata["profiles"]).index(profile)
        on_top, top_total, on_motif, total = [], [], [], []
        for i in rows:
            motif = motif_mask(table.sequences[i], mismatches=args.mismatches)
            top = top_bases(values[i][:, column], args.top_bases)
            on_top.append((top & motif).sum())
            top_total.append(top.sum())
            on_motif.append(motif.sum())
            total.append(len(motif))
        # per-window fractions; windows are all one length, so the ratio of their sums is the
        # pooled enrichment
        top_share = np.array(on_top, float) / np.array(top_total, float)
        motif_share = np.array(on_motif, float) / np.array(total, float)
        observed, expected = top_share.mean(), motif_share.mean()
        enrichment = observed / expected if expected > 0 else float("nan")
        low, high = bootstrap(top_share, motif_share, args.bootstrap)
        lines.append(
            f"| chromatin {profile} | top {args.top_bases} bases on CTCF core matches "
            f"(<= {args.mismatches} mismatches), observed / shuffled | {enrichment:.2f} "
            f"({observed:.2%} vs {expected:.2%}) | [{low:.2f}, {high:.2f}] | {len(rows)} windows, "
            f"{sum(on_motif)} motif bases, {sum(on_top)} top bases on them |"
        )
    return lines


def promoter_rows(args: argparse.Namespace) -> list[str]:
    """Markdown rows of where the promoter head's importance sits along the 300 bp."""
    metadata = load_classifier(args.promoter)[2]
    table = read_labeled_table(
        args.promoter_table, task="promoter", seed=metadata["finetune"]["seed"]
    ).subset("test")
    positive = np.flatnonzero(table.labels[:, 0] > 0)
    clean = np.array(
        [i for i in positive if "N" not in table.sequences[i] and len(table.sequences[i]) == 300],
        dtype=int,
    )
    rows = _sample(clean, args.promoters)
    values = np.stack([v[:, 0] for v in _attributions(args.promoter, table, rows, args)])
    scale = np.abs(values).mean(axis=1)  # (R,) mean absolute importance per base
    lines = []
    for name, (first, last) in PROMOTER_REGIONS.items():
        region = slice(TSS_INDEX + first, TSS_INDEX + last + 1)
        width = last - first + 1
        absolute = np.abs(values[:, region]).sum(axis=1)
        signed = values[:, region].sum(axis=1)
        ratio = absolute.sum() / (width * scale.sum())
        low, high = bootstrap(absolute, width * scale, args.bootstrap)
        lines.append(
            f"| promoter | {name}: mean abs. importance / record mean | {ratio:.2f} | "
            f"[{low:.2f}, {high:.2f}] | {len(rows)} promoters; mean signed importance per base "
            f"{signed.sum() / (width * len(rows)):+.3g} logit |"
        )
    for name, motif, (first, last) in PROMOTER_MOTIFS:
        masks = [
            iupac_mask(table.sequences[i], motif, TSS_INDEX + first, TSS_INDEX + last) for i in rows
        ]
        hits = np.array([mask.any() for mask in masks])
        if not hits.any():
            lines.append(f"| promoter | {name} bases | no match | | {len(rows)} promoters |")
            continue
        on = np.array([np.abs(v[m]).sum() for v, m in zip(values, masks, strict=True)])[hits]
        count = np.array([m.sum() for m in masks])[hits]
        ratio = on.sum() / (count * scale[hits]).sum()
        low, high = bootstrap(on, count * scale[hits], args.bootstrap)
        lines.append(
            f"| promoter | {name} bases: mean abs. importance / record mean | {ratio:.2f} | "
            f"[{low:.2f}, {high:.2f}] | {hits.sum()} of {len(rows)} promoters have a match |"
        )
    return lines


def iupac_mask(sequence: str, motif: str, first: int, last: int) -> np.ndarray:
    """(L,) bool: the bases of exact matches of IUPAC `motif` (forward strand) starting at
    positions `first`..`last` (0-based, inclusive)."""
    pattern = re.compile("".join(IUPAC[code] for code in motif))
    covered = np.zeros(len(sequence), dtype=bool)
    for start in range(max(0, first), min(last, len(sequence) - len(motif)) + 1):
        if pattern.fullmatch(sequence, start, start + len(motif)):
            covered[start : start + len(motif)] = True
    return covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromatin", type=Path, required=True, help="chromatin model dir")
    parser.add_argument("--chromatin-table", type=Path, required=True, help="its labels table")
    parser.add_argument("--genome", type=Path, required=True, help="FASTA of the labels table")
    parser.add_argument("--promoter", type=Path, required=True, help="promoter model dir")
    parser.add_argument("--promoter-table", type=Path, required=True, help="its table")
    parser.add_argument("--method", choices=sorted(METHODS), default="ism")
    parser.add_argument("--windows", type=int, default=20, help="CTCF-positive windows each")
    parser.add_argument("--promoters", type=int, default=50, help="positive test promoters")
    parser.add_argument("--top-bases", type=int, default=20, help="top bases per window")
    parser.add_argument("--mismatches", type=int, default=3, help="at the 12 fixed motif bases")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=64, help="ISM mutants per pass")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = ctcf_rows(args) + promoter_rows(args)
    print(
        f"method {args.method}, {time.perf_counter() - started:.0f} s, device {args.device}, "
        f"{args.threads} CPU threads\n"
    )
    print("| head | check | value | 95% interval | n |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
