"""The one BED parser: BED3, BED6 and narrowPeak (BED6+4) lines, plain or gzip, and bigBed.

``bed_lines`` yields the data lines of a file (``track``/``browser``/``#`` header lines and
blank lines skipped) and ``parse_bed_line`` turns one into a ``BedInterval``; errors name the
file and line. ``read_bed`` reads a whole file (or a bigBed) into a table for the label
builders; ``genomix.seqio.regions.read_bed_records`` cuts each interval from a genome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genomix.errors import GenomixError
from genomix.seqio.compression import open_bytes

logger = logging.getLogger(__name__)

BIGBED_MAGIC = (0x8789F2EB).to_bytes(4, "little")
_HEADERS = ("track", "browser", "#")


@dataclass(frozen=True)
class BedInterval:
    """One BED line.

    Attributes:
        chrom: chromosome as the file names it.
        start, end: 0-based, end-exclusive (not checked against each other: callers differ).
        name: the 4th column, or None when absent or ``.``.
        strand: ``+`` or ``-`` from the 6th column, else ``.``.
    """

    chrom: str
    start: int
    end: int
    name: str | None
    strand: str


@dataclass(frozen=True)
class BedLine:
    """A data line of a BED file: its 1-based ``number``, ``where`` (``"{path}: line {n}"``
    for messages) and ``text`` (line end removed)."""

    number: int
    where: str
    text: str


def bed_lines(path: Path) -> Iterator[BedLine]:
    """The data lines of a BED file (plain or gzip), header and blank lines skipped.

    Bytes that are not UTF-8 become U+FFFD, which ``parse_bed_line`` refuses, so a caller that
    skips bad lines can skip those too.

    Raises:
        GenomixError: corrupt gzip, or ``"{path}: no intervals (an empty BED file)"`` when the
            file has no data line.
    """
    intervals = 0
    with open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not text.strip() or text.startswith(_HEADERS):
                continue
            intervals += 1
            yield BedLine(number, f"{path}: line {number}", text)
    if not intervals:
        raise GenomixError(f"{path}: no intervals (an empty BED file)")


def parse_bed_fields(fields: Sequence[str], where: str) -> BedInterval:
    """The interval of one BED line split on tabs (chrom, start, end[, name, score, strand,
    ...]); `where` is ``"{bed}: line {n}"`` (or any label) for error messages."""
    try:
        chrom, start, end = fields[0], int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        raise GenomixError(f"{where}: expected tab-separated chrom, start, end") from None
    name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else None
    strand = fields[5] if len(fields) > 5 and fields[5] in ("+", "-") else "."
    return BedInterval(chrom=chrom, start=start, end=end, name=name, strand=strand)


def parse_bed_line(line: BedLine) -> BedInterval:
    """``parse_bed_fields`` of a line from ``bed_lines``; refuses bytes that were not UTF-8."""
    if "\ufffd" in line.text:
        raise GenomixError(f"{line.where}: bytes that are not UTF-8 text")
    return parse_bed_fields(line.text.split("\t"), line.where)


def read_bed(path: str | Path) -> pd.DataFrame:
    """Read a BED3+ file (gzip or plain; ``track``/``browser``/``#`` lines skipped), or a bigBed
    (bigBed, bigNarrowPeak: recognised by its magic bytes, read with pybigtools).

    Returns:
        DataFrame with columns chrom (str), start, end (int64) and strand ('+', '-' or '.';
        '.' when the file has fewer than 6 columns), in file order (a bigBed's own order:
        by chromosome, then start).

    Raises:
        GenomixError: a missing or empty file, a malformed line or an interval with
            ``end < start`` (naming the file and line), an unreadable bigBed.
    """
    path = Path(path)
    if not path.is_file():
        raise GenomixError(f"{path}: file not found")
    if _is_bigbed(path):
        rows = list(_bigbed_rows(path))
    else:
        rows = []
        for line in bed_lines(path):
            interval = parse_bed_line(line)
            if not 0 <= interval.start <= interval.end:
                raise GenomixError(f"{line.where}: bad interval {interval.start}-{interval.end}")
            rows.append((interval.chrom, interval.start, interval.end, interval.strand))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "strand"]).astype(
        {"start": np.int64, "end": np.int64}
    )


def _is_bigbed(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == BIGBED_MAGIC


def _bigbed_rows(path: Path) -> Iterator[tuple[str, int, int, str]]:
    """(chrom, start, end, strand) of every bigBed entry; the strand is the 6th BED column."""
    import pybigtools

    try:
        reader = pybigtools.open(str(path))
        for chrom in reader.chroms():
            for start, end, *rest in reader.records(chrom):
                strand = rest[2] if len(rest) > 2 and rest[2] in ("+", "-") else "."
                yield chrom, int(start), int(end), strand
    except (OSError, ValueError, pybigtools.BBIReadError) as error:
        raise GenomixError(f"{path}: unreadable bigBed ({error})") from None


def harmonise_chroms(bed: pd.DataFrame, genome_chroms: set[str], path: Path) -> pd.DataFrame:
    """Rename ``1`` <-> ``chr1`` when no BED chrom is in the genome but the toggled names are.

    Args:
        bed: a ``read_bed`` table; path: its file, for messages.
    """
    names = set(bed["chrom"].unique())
    if not names or names & genome_chroms:
        return bed
    toggled = {c: c[3:] if c.startswith("chr") else "chr" + c for c in names}
    if set(toggled.values()) & genome_chroms:
        logger.info("%s: chromosome names adapted to the genome ('chr' prefix toggled)", path)
        return bed.assign(chrom=bed["chrom"].map(toggled))
    logger.warning("%s: no chromosome name matches the genome", path)
    return bed
