"""Promoter tables from a genome and a TSS (or promoter) BED: TSS windows and GC-matched negatives.

The table has the coordinates of ``genomix.data.labels`` (record name, 0-based end-exclusive
positions in the record) and, on request, the window sequences, so that it can be used without
the genome. Records are read one at a time (``read_sequence_bytes``): the peak memory is set by the
largest chromosome, about 4 bytes per base for the prefix sums of the GC and non-ACGT counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genomix.data.labels import (
    assign_split,
    check_held_out,
    chromosome_of_record,
    covered_bases,
    merge_intervals,
    place_record,
)
from genomix.errors import GenomixError
from genomix.seqio.bed import harmonise_chroms, read_bed
from genomix.seqio.fasta import fasta_names, read_sequence_bytes
from genomix.seqio.regions import reverse_complement

logger = logging.getLogger(__name__)

_NOT_ACGT_FLAG = bytes(0 if chr(b) in "ACGTacgt" else 1 for b in range(256))
_GC_FLAG = bytes(1 if chr(b) in "GCgc" else 0 for b in range(256))


def _window_counts(flags: bytes, starts: np.ndarray, width: int) -> np.ndarray:
    """(B,) number of flagged bases in each window [start, start + width) of a record."""
    # int32 prefix sums (4 bytes per base) suffice below 2**31 bases, the longest chromosomes
    dtype = np.int32 if len(flags) < 2**31 else np.int64
    cum = np.zeros(len(flags) + 1, dtype=dtype)
    np.cumsum(np.frombuffer(flags, dtype=np.uint8), out=cum[1:])
    return cum[starts + width] - cum[starts]


def build_promoter_table(
    genome: str | Path,
    tss_bed: str | Path,
    *,
    upstream: int = 249,
    downstream: int = 50,
    negatives_per_positive: int = 1,
    seed: int = 0,
    valid_chroms: Sequence[str] = ("chr7",),
    test_chroms: Sequence[str] = ("chr8", "chr9"),
    bed_upstream: int = 0,
    with_sequence: bool = False,
) -> pd.DataFrame:
    """Promoter windows around TSSs (label 1) and GC-matched genomic negatives (label 0).

    A + strand TSS at t gives ``[t - upstream, t + downstream + 1)``; a - strand TSS the mirror
    ``[t - downstream, t + upstream + 1)`` with strand '-', so readers reverse-complement it.
    Negatives tile each record in non-overlapping windows of the same width that overlap no
    promoter window and hold only ACGT; per record and 5% GC bin, ``negatives_per_positive``
    negatives are drawn per positive (a warning says when a bin runs out).

    Args:
        genome: FASTA (gzip or plain).
        tss_bed: BED with the strand in column 6 (+ when absent); the TSS is ``bed_upstream``
            bases downstream of each interval's 5' end: ``start + bed_upstream`` on +,
            ``end - 1 - bed_upstream`` on -. 0 suits 1-bp TSS intervals; EPDnew's BED gives
            60-bp promoters from 49 bp upstream to 10 bp downstream of the TSS, so 49.
        upstream, downstream: bases kept before and after the TSS (window = both + 1).
        negatives_per_positive: negatives drawn per positive of the same record and GC bin.
        seed: seed of the negative draw.
        valid_chroms, test_chroms: chromosomes held out whole; each must be in `genome`
            (GenomixError otherwise, as a misspelled name would leave its split empty).
        bed_upstream: see ``tss_bed``.
        with_sequence: add a ``sequence`` column (upper case, reverse-complemented on -), so
            the table can be used without the genome.

    Returns:
        (N, 6) DataFrame: chrom (record), start, end, strand, split, label; (N, 7) with
        ``sequence`` last when ``with_sequence``.
    """
    genome, tss_bed = Path(genome), Path(tss_bed)
    if bed_upstream < 0:
        raise GenomixError(f"bed_upstream={bed_upstream}: must not be negative")
    width = upstream + downstream + 1
    genome_chroms = {chromosome_of_record(name) for name in fasta_names(genome)}
    check_held_out(genome_chroms, valid_chroms, test_chroms, genome)
    tss = harmonise_chroms(read_bed(tss_bed), genome_chroms, tss_bed)
    if tss.empty:
        raise GenomixError(f"{tss_bed}: no TSS lines")
    by_chrom = dict(tuple(tss.groupby("chrom", sort=False)))
    rng = np.random.default_rng(seed)
    frames: list[pd.DataFrame] = []
    n_used = 0
    for name, seq in read_sequence_bytes(genome):
        chrom, offset = place_record(name, len(seq), genome)
        if chrom not in by_chrom:
            continue
        group = by_chrom[chrom]
        minus = (group["strand"] == "-").to_numpy()
        tss = np.where(
            minus,
            group["end"].to_numpy() - 1 - bed_upstream,
            group["start"].to_numpy() + bed_upstream,
        )
        rel = tss - offset
        starts = np.where(minus, rel - downstream, rel - upstream)
        inside = (starts >= 0) & (starts + width <= len(seq))
        pos = pd.DataFrame(
            {"start": starts[inside], "strand": np.where(minus[inside], "-", "+"), "label": 1}
        ).drop_duplicates(["start", "strand"])
        n_used += int(inside.sum())
        if pos.empty:
            continue
        raw = bytes(seq)
        cand = np.arange(0, len(seq) - width + 1, width, dtype=np.int64)
        merged = merge_intervals(pos["start"].to_numpy(), pos["start"].to_numpy() + width)
        clean = _window_counts(raw.translate(_NOT_ACGT_FLAG), cand, width) == 0
        cand = cand[clean & (covered_bases(merged, cand, cand + width) == 0)]
        gc_table = raw.translate(_GC_FLAG)
        pos_bin = _gc_bin(_window_counts(gc_table, pos["start"].to_numpy(), width), width)
        cand_bin = _gc_bin(_window_counts(gc_table, cand, width), width)
        chosen: list[np.ndarray] = []
        for gc_bin, n_pos in zip(*np.unique(pos_bin, return_counts=True), strict=True):
            pool = cand[cand_bin == gc_bin]
            need = int(n_pos) * negatives_per_positive
            if pool.size < need:
                logger.warning(
                    "%s: record %s, GC bin %d%%: %d negatives needed, %d available",
                    genome,
                    name,
                    5 * gc_bin,
                    need,
                    pool.size,
                )
            chosen.append(rng.choice(pool, size=min(need, pool.size), replace=False))
        neg = pd.DataFrame({"start": np.concatenate(chosen), "strand": "+", "label": 0})
        frame = pd.concat([pos, neg], ignore_index=True).sort_values(["start", "label"])
        split = assign_split(np.full(len(frame), chrom, dtype=object), valid_chroms, test_chroms)
        frame = frame.assign(chrom=name, split=split)
        if with_sequence:
            frame["sequence"] = [
                _window_sequence(raw, start, width, minus=strand == "-")
                for start, strand in zip(frame["start"], frame["strand"], strict=True)
            ]
        frames.append(frame)
    if len(tss) > n_used:
        missing = len(tss) - n_used
        logger.warning(
            "%s: %d of %d TSSs have no full window in %s", tss_bed, missing, len(tss), genome
        )
    if not frames:
        raise GenomixError(f"{tss_bed}: no TSS window lies inside a record of {genome}")
    table = pd.concat(frames, ignore_index=True)
    table["end"] = table["start"] + width
    columns = ["chrom", "start", "end", "strand", "split", "label"]
    return table[columns + ["sequence"] if with_sequence else columns]


def _window_sequence(raw: bytes, start: int, width: int, *, minus: bool) -> str:
    """Upper-case ``raw[start:start + width]``, reverse-complemented when ``minus``."""
    window = raw[start : start + width].upper().decode("ascii")
    return reverse_complement(window) if minus else window


def _gc_bin(gc_counts: np.ndarray, width: int) -> np.ndarray:
    """(B,) GC bin index 0..19 (5% bins) from (B,) GC base counts."""
    return np.minimum(gc_counts * 20 // width, 19)
