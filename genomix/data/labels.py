"""Build labelled tables from a genome: DeepSEA-style chromatin bins (promoter windows are
``genomix.data.promoters``, which shares the interval and split helpers here; both read FASTA
and BED through ``genomix.seqio``).

The builders return a ``pandas.DataFrame`` of coordinates (no sequences) that
``genomix.data.tables.read_labeled_table`` reads against the same FASTA. ``chrom`` in the output
is the FASTA record name and ``start``/``end`` are 0-based, end-exclusive positions inside that
record. A record named ``chrom:start-end`` (a segment of a genome, 0-based half-open) sits at that
offset on ``chrom``; any other record sits at offset 0 on the chromosome of its own name. Peak and
TSS files are in chromosome coordinates. Splits hold out whole chromosomes.

Memory: the FASTA is read one record at a time as bytes (``read_sequence_bytes``), N runs are found
with a regular expression rather than a per-base array, and ``iter_chromatin_table`` yields the
rows of a few records at a time (about a million bins) for ``write_tables`` to append, so the
peak is set by the largest chromosome (about 2 bytes per base, ``bench/memory.py``) plus the
merged peaks of every profile, not by the genome.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path
from genomix.seqio.bed import harmonise_chroms, read_bed
from genomix.seqio.fasta import fasta_names, read_sequence_bytes

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(?P<chrom>.+):(?P<start>\d+)-(?P<end>\d+)$")
_N_RUN = re.compile(rb"[Nn]+")


def place_record(name: str, length: int, path: Path) -> tuple[str, int]:
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


def chromosome_of_record(name: str) -> str:
    """The chromosome a FASTA record lies on: `chrom` for a segment `chrom:start-end`, else its
    own name."""
    match = _SEGMENT.match(name)
    return name if match is None else match["chrom"]


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


def check_held_out(
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


def assign_split(chroms: np.ndarray, valid: Sequence[str], test: Sequence[str]) -> np.ndarray:
    """(N,) 'train'/'valid'/'test' by chromosome."""
    if set(valid) & set(test):
        raise GenomixError(f"chromosomes {sorted(set(valid) & set(test))} are in valid and test")
    split = np.full(chroms.shape, "train", dtype=object)
    split[np.isin(chroms, list(valid))] = "valid"
    split[np.isin(chroms, list(test))] = "test"
    return split


def _n_runs(seq: bytes | bytearray) -> np.ndarray:
    """(R, 2) int64 [start, end) of the runs of N/n in ``seq``, sorted and disjoint."""
    runs = [match.span() for match in _N_RUN.finditer(seq)]
    return np.array(runs, dtype=np.int64).reshape(-1, 2)


def _merged_peaks(
    peaks: Mapping[str, str | Path], genome_chroms: set[str]
) -> dict[str, dict[str, np.ndarray]]:
    """profile -> chromosome -> (M, 2) merged peak intervals, chromosome names harmonised."""
    merged: dict[str, dict[str, np.ndarray]] = {}
    for profile, bed_path in peaks.items():
        bed = harmonise_chroms(read_bed(bed_path), genome_chroms, Path(bed_path))
        merged[profile] = {
            chrom: merge_intervals(group["start"].to_numpy(), group["end"].to_numpy())
            for chrom, group in bed.groupby("chrom", sort=False)
        }
    return merged


def _label_bins(
    parts: list[tuple[str, str, np.ndarray, np.ndarray]],
    merged: Mapping[str, Mapping[str, np.ndarray]],
    *,
    width: int,
    bin_size: int,
    valid_chroms: Sequence[str],
    test_chroms: Sequence[str],
) -> pd.DataFrame:
    """Rows of the records in ``parts`` (record, chrom, bins, window starts), labelled together."""
    bins = np.concatenate([p[2] for p in parts])
    chroms = np.concatenate([np.full(p[2].size, p[1], dtype=object) for p in parts])
    chunk = pd.DataFrame(
        {
            "chrom": np.concatenate([np.full(p[2].size, p[0], dtype=object) for p in parts]),
            "start": np.concatenate([p[3] for p in parts]),
        }
    )
    chunk["end"] = chunk["start"] + width
    chunk["split"] = assign_split(chroms, valid_chroms, test_chroms)
    ranges: dict[str, list[np.ndarray]] = {}  # chrom -> row ranges of its records
    offset = 0
    for _, chrom, record_bins, _ in parts:
        ranges.setdefault(chrom, []).append(np.arange(offset, offset + record_bins.size))
        offset += record_bins.size
    rows_of = {chrom: np.concatenate(rows) for chrom, rows in ranges.items()}
    for profile, by_chrom in merged.items():
        label = np.zeros(bins.size, dtype=np.uint8)
        for chrom, rows in rows_of.items():
            intervals = by_chrom.get(chrom)
            if intervals is not None:
                cover = covered_bases(intervals, bins[rows], bins[rows] + bin_size)
                label[rows] = 2 * cover >= bin_size
        chunk[profile] = label
    return chunk


def iter_chromatin_table(
    genome: str | Path,
    peaks: Mapping[str, str | Path],
    *,
    bin_size: int = 200,
    flank: int = 400,
    margin: int = 0,
    valid_chroms: Sequence[str] = ("chr7",),
    test_chroms: Sequence[str] = ("chr8", "chr9"),
    chunk_bins: int = 1 << 20,
) -> Iterator[pd.DataFrame]:
    """DeepSEA-style chromatin labels in chunks of whole records (see ``build_chromatin_table``
    for the rule and the columns).

    Record names (from the ``.fai`` when there is one) are read first, so a misspelled held-out
    chromosome fails before any work. Then records are read one at a time; only their kept bins
    are held, and once those reach ``chunk_bins`` they are labelled and yielded together (so a
    genome of many small records is labelled in a few vectorised passes, and a large chromosome
    is one chunk of its own).

    Yields:
        (N_c, 4 + P) DataFrames in FASTA order: chrom, start, end, split, profiles.
    """
    genome = Path(genome)
    if not peaks:
        raise GenomixError("build_chromatin_table: no peak files given")
    if 0 < margin < flank:
        raise GenomixError(
            f"chromatin.margin={margin} is less than chromatin.flank={flank}: a window would "
            "leave its record; give 0 (= flank) or at least the flank"
        )
    # Bins are kept where `reach` bp either side lie inside the record: tables built at several
    # flanks with the same margin label the same bins (a context sweep compares like with like).
    reach = max(flank, margin)
    names = fasta_names(genome)
    if not names:
        raise GenomixError(f"{genome}: no FASTA records")
    genome_chroms = {chromosome_of_record(name) for name in names}
    check_held_out(genome_chroms, valid_chroms, test_chroms, genome)
    assign_split(np.array([], dtype=object), valid_chroms, test_chroms)  # valid/test overlap
    merged = _merged_peaks(peaks, genome_chroms)
    width = bin_size + 2 * flank
    options = {
        "width": width,
        "bin_size": bin_size,
        "valid_chroms": valid_chroms,
        "test_chroms": test_chroms,
    }
    parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []  # record, chrom, bins, win starts
    n_pending = n_rows = 0
    for name, seq in read_sequence_bytes(genome):
        chrom, offset = place_record(name, len(seq), genome)
        first = -(-(offset + reach) // bin_size) * bin_size
        bins = np.arange(first, offset + len(seq) - reach - bin_size + 1, bin_size, dtype=np.int64)
        win = bins - flank - offset
        keep = covered_bases(_n_runs(seq), win, win + width) < width  # not all N
        del seq
        parts.append((name, chrom, bins[keep], win[keep]))
        n_pending += int(keep.sum())
        if n_pending >= chunk_bins:
            chunk = _label_bins(parts, merged, **options)
            n_rows += len(chunk)
            parts, n_pending = [], 0
            yield chunk
    if n_pending or n_rows == 0:  # the rest; or an empty table, so that it still has a header
        chunk = _label_bins(parts, merged, **options)
        n_rows += len(chunk)
        yield chunk
    logger.info("%s: %d bins, %d profiles", genome, n_rows, len(peaks))


def build_chromatin_table(
    genome: str | Path,
    peaks: Mapping[str, str | Path],
    *,
    bin_size: int = 200,
    flank: int = 400,
    margin: int = 0,
    valid_chroms: Sequence[str] = ("chr7",),
    test_chroms: Sequence[str] = ("chr8", "chr9"),
) -> pd.DataFrame:
    """DeepSEA-style chromatin labels: one row per bin, one 0/1 column per profile.

    Bins start at multiples of ``bin_size`` in chromosome coordinates; a bin is kept when its
    window ``[b - flank, b + bin_size + flank)`` lies inside the record (and, with a ``margin``
    above 0, so do ``margin`` bp either side of the bin) and is not all N. A
    profile is 1 when its merged peaks cover at least half the bin. The whole table is held in
    memory; ``iter_chromatin_table`` + ``write_tables`` stream it record by record instead.

    Args:
        genome: FASTA (gzip or plain).
        peaks: profile name -> BED file, in output column order.
        bin_size, flank: bin width and context on each side (bp).
        margin: bp either side of a bin that must lie in its record (0 = flank; else at least
            flank), so tables built at several flanks with one margin share their bins.
        valid_chroms, test_chroms: chromosomes held out whole.

    Returns:
        (N, 4 + P) DataFrame: chrom (record), start, end (window in the record), split, profiles.
    """
    chunks = list(
        iter_chromatin_table(
            genome,
            peaks,
            bin_size=bin_size,
            flank=flank,
            margin=margin,
            valid_chroms=valid_chroms,
            test_chroms=test_chroms,
        )
    )
    return pd.concat(chunks, ignore_index=True)


def write_table(df: pd.DataFrame, out: str | Path) -> None:
    """Write ``df`` as TSV (gzip when ``out`` ends in .gz; mtime 0), atomically."""
    out = Path(out)
    compression = {"method": "gzip", "mtime": 0} if out.name.endswith(".gz") else None
    with atomic_path(out) as temporary:
        df.to_csv(temporary, sep="\t", index=False, compression=compression)
    logger.info("wrote %d rows to %s", len(df), out)


def write_tables(chunks: Iterable[pd.DataFrame], out: str | Path) -> int:
    """Append ``chunks`` (same columns) to one TSV, gzip when ``out`` ends in .gz, atomically.

    Only one chunk is in memory at a time (``iter_chromatin_table`` yields whole records).

    Returns:
        The number of rows written.
    """
    out = Path(out)
    rows = 0
    with atomic_path(out) as temporary, open(temporary, "wb") as raw:
        # no file name and mtime 0 in the gzip header: the same table gives the same bytes
        gz = out.name.endswith(".gz")
        binary = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if gz else raw
        with binary, io.TextIOWrapper(binary, encoding="utf-8", newline="") as fh:
            for index, chunk in enumerate(chunks):
                chunk.to_csv(fh, sep="\t", index=False, header=index == 0)
                rows += len(chunk)
    logger.info("wrote %d rows to %s", rows, out)
    return rows
