"""Build labelled tables from a genome: DeepSEA-style chromatin bins and promoter windows.

Both builders return a ``pandas.DataFrame`` of coordinates (no sequences) that
``genomix.data.tables.read_labeled_table`` reads against the same FASTA. ``chrom`` in the output
is the FASTA record name and ``start``/``end`` are 0-based, end-exclusive positions inside that
record. A record named ``chrom:start-end`` (a segment of a genome, 0-based half-open) sits at that
offset on ``chrom``; any other record sits at offset 0 on the chromosome of its own name. Peak and
TSS files are in chromosome coordinates. Splits hold out whole chromosomes.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genomix.errors import GenomixError
from genomix.io import atomic_path

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(?P<chrom>.+):(?P<start>\d+)-(?P<end>\d+)$")
_N_FLAG = bytes(1 if chr(b) in "Nn" else 0 for b in range(256))
_NOT_ACGT_FLAG = bytes(0 if chr(b) in "ACGTacgt" else 1 for b in range(256))
_GC_FLAG = bytes(1 if chr(b) in "GCgc" else 0 for b in range(256))


def _open_text(path: Path) -> Iterable[str]:
    """Open a text file, gzip or plain (sniffed by the magic bytes)."""
    if not path.is_file():
        raise GenomixError(f"{path}: file not found")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)  # noqa: SIM115


def read_fasta_records(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield (record name = first word of the header, sequence) from a FASTA, gzip or plain."""
    path = Path(path)
    with _open_text(path) as fh:
        for title, seq in SimpleFastaParser(fh):
            yield title.split(None, 1)[0] if title.strip() else "", seq


def _fasta_names(path: Path) -> list[str]:
    """Record names of a FASTA, from its ``.fai`` when there is one, else by scanning headers."""
    fai = path.with_name(path.name + ".fai")
    if fai.is_file():
        return [line.split("\t", 1)[0] for line in fai.read_text().splitlines() if line]
    with _open_text(path) as fh:
        return [line[1:].split(None, 1)[0] for line in fh if line.startswith(">")]


def _place_record(name: str, length: int, path: Path) -> tuple[str, int]:
    """(chromosome, offset) of a record: ``chrom:start-end`` segments sit at ``start``."""
    match = _SEGMENT.match(name)
    if match is None:
        return name, 0
    start, end = int(match["start"]), int(match["end"])
    if end - start != length:
        raise GenomixError(
            f"{path}: record '{name}' has {length} bp but its name says {end - start} bp"
        )
    return match["chrom"], start


def _chrom_of_record(name: str) -> str:
    match = _SEGMENT.match(name)
    return name if match is None else match["chrom"]


def read_bed(path: str | Path) -> pd.DataFrame:
    """Read a BED3+ file (gzip or plain; ``track``/``browser``/``#`` lines skipped).

    Returns:
        DataFrame with columns chrom (str), start, end (int64) and strand ('+', '-' or '.';
        '.' when the file has fewer than 6 columns), in file order.
    """
    path = Path(path)
    rows: list[tuple[str, int, int, str]] = []
    with _open_text(path) as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                start, end = int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise GenomixError(
                    f"{path}: line {n}: expected tab-separated chrom, start, end"
                ) from None
            if not 0 <= start <= end:
                raise GenomixError(f"{path}: line {n}: bad interval {start}-{end}")
            strand = fields[5] if len(fields) > 5 and fields[5] in "+-" else "."
            rows.append((fields[0], start, end, strand))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "strand"]).astype(
        {"start": np.int64, "end": np.int64}
    )


def _harmonise_chroms(bed: pd.DataFrame, genome_chroms: set[str], path: Path) -> pd.DataFrame:
    """Rename ``1`` <-> ``chr1`` when no BED chrom is in the genome but the toggled names are."""
    names = set(bed["chrom"].unique())
    if not names or names & genome_chroms:
        return bed
    toggled = {c: c[3:] if c.startswith("chr") else "chr" + c for c in names}
    if set(toggled.values()) & genome_chroms:
        logger.info("%s: chromosome names adapted to the genome ('chr' prefix toggled)", path)
        return bed.assign(chrom=bed["chrom"].map(toggled))
    logger.warning("%s: no chromosome name matches the genome", path)
    return bed


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Union of intervals on one chromosome.

    Args:
        starts, ends: (M,) int64, any order.

    Returns:
        (M', 2) int64 sorted, disjoint [start, end) intervals.
    """
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    if s.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    reach = np.maximum.accumulate(e)
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > reach[:-1]
    last = np.append(np.flatnonzero(new)[1:] - 1, s.size - 1)
    return np.stack([s[new], reach[last]], axis=1).astype(np.int64)


def covered_bases(merged: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Bases of each query interval covered by ``merged``.

    Args:
        merged: (M, 2) sorted disjoint intervals (from ``merge_intervals``).
        starts, ends: (B,) query intervals.

    Returns:
        (B,) int64 covered base counts.
    """
    if merged.shape[0] == 0:
        return np.zeros(np.shape(starts), dtype=np.int64)
    cum = np.concatenate(([0], np.cumsum(merged[:, 1] - merged[:, 0])))

    def before(x: np.ndarray) -> np.ndarray:  # covered bases in [0, x)
        j = np.searchsorted(merged[:, 0], x, side="left")  # intervals starting before x
        overhang = np.where(j > 0, merged[np.maximum(j - 1, 0), 1] - x, 0)
        return cum[j] - np.maximum(overhang, 0)

    return before(np.asarray(ends)) - before(np.asarray(starts))


def _window_counts(flags: bytes, starts: np.ndarray, width: int) -> np.ndarray:
    """(B,) number of flagged bases in each window [start, start + width) of a record."""
    cum = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(flags, dtype=np.uint8), out=cum[1:])
    return cum[starts + width] - cum[starts]


def _check_held_out(
    present: set[str], valid: Sequence[str], test: Sequence[str], source: Path
) -> None:
    """A held-out chromosome that is not in the data would silently empty its split."""
    if not test:
        raise GenomixError(f"{source}: no test chromosomes given (test_chroms); hold one out")
    missing = sorted((set(valid) | set(test)) - present)
    if missing:
        raise GenomixError(
            f"{source}: held-out chromosome(s) {', '.join(missing)} not found "
            f"(chromosomes here: {', '.join(sorted(present)[:10])})"
        )


def _assign_split(chroms: np.ndarray, valid: Sequence[str], test: Sequence[str]) -> np.ndarray:
    """(N,) 'train'/'valid'/'test' by chromosome."""
    if set(valid) & set(test):
        raise GenomixError(f"chromosomes {sorted(set(valid) & set(test))} are in valid and test")
    split = np.full(chroms.shape, "train", dtype=object)
    split[np.isin(chroms, list(valid))] = "valid"
    split[np.isin(chroms, list(test))] = "test"
    return split


def build_chromatin_table(
    genome: str | Path,
    peaks: Mapping[str, str | Path],
    *,
    bin_size: int = 200,
    flank: int = 400,
    valid_chroms: Sequence[str] = ("chr7",),
    test_chroms: Sequence[str] = ("chr8", "chr9"),
) -> pd.DataFrame:
    """DeepSEA-style chromatin labels: one row per bin, one 0/1 column per profile.

    Bins start at multiples of ``bin_size`` in chromosome coordinates; a bin is kept when its
    window ``[b - flank, b + bin_size + flank)`` lies inside the record and is not all N. A
    profile is 1 when its merged peaks cover at least half the bin.

    Args:
        genome: FASTA (gzip or plain).
        peaks: profile name -> BED file, in output column order.
        bin_size, flank: bin width and context on each side (bp).
        valid_chroms, test_chroms: chromosomes held out whole.

    Returns:
        (N, 4 + P) DataFrame: chrom (record), start, end (window in the record), split, profiles.
    """
    genome = Path(genome)
    if not peaks:
        raise GenomixError("build_chromatin_table: no peak files given")
    width = bin_size + 2 * flank
    parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []  # record, chrom, bins, win starts
    for name, seq in read_fasta_records(genome):
        chrom, offset = _place_record(name, len(seq), genome)
        first = -(-(offset + flank) // bin_size) * bin_size
        bins = np.arange(first, offset + len(seq) - flank - bin_size + 1, bin_size, dtype=np.int64)
        win = bins - flank - offset
        keep = _window_counts(seq.encode().translate(_N_FLAG), win, width) < width
        parts.append((name, chrom, bins[keep], win[keep]))
    if not parts:
        raise GenomixError(f"{genome}: no FASTA records")
    bins = np.concatenate([p[2] for p in parts])
    chroms = np.concatenate([np.full(p[2].size, p[1], dtype=object) for p in parts])
    genome_chroms = {p[1] for p in parts}
    table = pd.DataFrame(
        {
            "chrom": np.concatenate([np.full(p[2].size, p[0], dtype=object) for p in parts]),
            "start": np.concatenate([p[3] for p in parts]),
        }
    )
    table["end"] = table["start"] + width
    _check_held_out(genome_chroms, valid_chroms, test_chroms, Path(genome))
    table["split"] = _assign_split(chroms, valid_chroms, test_chroms)
    rows_of = {chrom: np.flatnonzero(chroms == chrom) for chrom in genome_chroms}
    for profile, bed_path in peaks.items():
        bed = _harmonise_chroms(read_bed(bed_path), genome_chroms, Path(bed_path))
        label = np.zeros(bins.size, dtype=np.uint8)
        for chrom, group in bed.groupby("chrom", sort=False):
            rows = rows_of.get(chrom)
            if rows is None:
                continue
            merged = merge_intervals(group["start"].to_numpy(), group["end"].to_numpy())
            cover = covered_bases(merged, bins[rows], bins[rows] + bin_size)
            label[rows] = 2 * cover >= bin_size
        table[profile] = label
    logger.info("%s: %d bins, %d profiles", genome, len(table), len(peaks))
    return table


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
) -> pd.DataFrame:
    """Promoter windows around TSSs (label 1) and GC-matched genomic negatives (label 0).

    A + strand TSS at t gives ``[t - upstream, t + downstream + 1)``; a - strand TSS the mirror
    ``[t - downstream, t + upstream + 1)`` with strand '-', so readers reverse-complement it.
    Negatives tile each record in non-overlapping windows of the same width that overlap no
    promoter window and hold only ACGT; per record and 5% GC bin, ``negatives_per_positive``
    negatives are drawn per positive (a warning says when a bin runs out).

    Args:
        genome: FASTA (gzip or plain).
        tss_bed: BED with the TSS at ``start`` and the strand in column 6 (+ when absent).
        upstream, downstream: bases kept before and after the TSS (window = both + 1).
        negatives_per_positive: negatives drawn per positive of the same record and GC bin.
        seed: seed of the negative draw.
        valid_chroms, test_chroms: chromosomes held out whole.

    Returns:
        (N, 6) DataFrame: chrom (record), start, end, strand, split, label.
    """
    genome, tss_bed = Path(genome), Path(tss_bed)
    width = upstream + downstream + 1
    names = _fasta_names(genome)
    tss = _harmonise_chroms(read_bed(tss_bed), {_chrom_of_record(n) for n in names}, tss_bed)
    if tss.empty:
        raise GenomixError(f"{tss_bed}: no TSS lines")
    by_chrom = dict(tuple(tss.groupby("chrom", sort=False)))
    rng = np.random.default_rng(seed)
    frames: list[pd.DataFrame] = []
    n_used = 0
    for name, seq in read_fasta_records(genome):
        chrom, offset = _place_record(name, len(seq), genome)
        if chrom not in by_chrom:
            continue
        group = by_chrom[chrom]
        minus = (group["strand"] == "-").to_numpy()
        rel = group["start"].to_numpy() - offset
        starts = np.where(minus, rel - downstream, rel - upstream)
        inside = (starts >= 0) & (starts + width <= len(seq))
        pos = pd.DataFrame(
            {"start": starts[inside], "strand": np.where(minus[inside], "-", "+"), "label": 1}
        ).drop_duplicates(["start", "strand"])
        n_used += int(inside.sum())
        if pos.empty:
            continue
        raw = seq.encode()
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
        split = _assign_split(np.full(len(frame), chrom, dtype=object), valid_chroms, test_chroms)
        frames.append(frame.assign(chrom=name, split=split))
    if len(tss) > n_used:
        missing = len(tss) - n_used
        logger.warning(
            "%s: %d of %d TSSs have no full window in %s", tss_bed, missing, len(tss), genome
        )
    if not frames:
        raise GenomixError(f"{tss_bed}: no TSS window lies inside a record of {genome}")
    table = pd.concat(frames, ignore_index=True)
    table["end"] = table["start"] + width
    return table[["chrom", "start", "end", "strand", "split", "label"]]


def _gc_bin(gc_counts: np.ndarray, width: int) -> np.ndarray:
    """(B,) GC bin index 0..19 (5% bins) from (B,) GC base counts."""
    return np.minimum(gc_counts * 20 // width, 19)


def write_table(df: pd.DataFrame, out: str | Path) -> None:
    """Write ``df`` as TSV (gzip when ``out`` ends in .gz; mtime 0), atomically."""
    out = Path(out)
    compression = {"method": "gzip", "mtime": 0} if out.name.endswith(".gz") else None
    with atomic_path(out) as temporary:
        df.to_csv(temporary, sep="\t", index=False, compression=compression)
    logger.info("wrote %d rows to %s", len(df), out)
