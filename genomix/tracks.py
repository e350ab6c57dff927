"""Genome-browser tracks of predictions: one bigWig or bedGraph per model output.

Windows overlap (they are `stride` bases apart), so each base takes the score of the window whose
centre is nearest: with windows `stride` apart that is the window's central `stride` bases, and
the first and last windows of a region also cover its ends. Tracks therefore never overlap, as
bedGraph and bigWig require. Regions given on the minus strand are placed back on the forward
strand. bigWig files are written with pybigtools (Rust, numpy-only wheels); IGV and the UCSC
browser read both formats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyfaidx

from genomix.errors import GenomixError
from genomix.predict import ScoredRecord
from genomix.seqio.atomic import atomic_path
from genomix.seqio.regions import GenomicRecord, match_chromosome

TrackRow = tuple[str, int, int, np.ndarray]  # chrom, start, end, (P,) scores


def window_shares(windows: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The bases each window scores in a track: those nearer its centre than any other's.

    Args:
        windows: W (start, end) pairs in record coordinates, in order of start.
        length: bases in the record.

    Returns:
        W (start, end) pairs that tile 0..length without overlap (a share may be empty when two
        windows have the same centre).
    """
    centres2 = [start + end for start, end in windows]  # twice each centre, in whole numbers
    cuts = [(a + b) // 4 for a, b in zip(centres2, centres2[1:], strict=False)]
    bounds = [0, *cuts, length]
    return list(zip(bounds, bounds[1:], strict=False))


def record_track_rows(scored: ScoredRecord) -> list[TrackRow]:
    """A region's window shares on the genome's forward strand: (chrom, start, end, (P,))."""
    record = scored.record
    if not isinstance(record, GenomicRecord):
        raise GenomixError("tracks need regions of a genome (--bed with --genome)")
    rows = []
    shares = window_shares(scored.windows, len(record.sequence))
    for (start, end), values in zip(shares, scored.scores, strict=True):
        if start < end:
            first, last = record.genome_interval(start, end)
            rows.append((record.chrom, first, last, values))
    return rows


def sorted_track_rows(rows: list[TrackRow]) -> list[TrackRow]:
    """`rows` sorted by chromosome and start; GenomixError when two regions overlap (their
    scores would collide on the same bases)."""
    rows = sorted(rows, key=lambda row: (row[0], row[1]))
    for before, after in zip(rows, rows[1:], strict=False):
        if before[0] == after[0] and after[1] < before[2]:
            raise GenomixError(
                f"regions overlap at {after[0]}:{after[1]}-{before[2]}; genome-browser tracks "
                "need non-overlapping --bed regions (merge them, e.g. bedtools merge)"
            )
    return rows


def _write_bedgraph(
    path: Path, rows: list[TrackRow], output: int, sizes: Mapping[str, int]
) -> None:
    with open(path, "w") as handle:
        for chrom, start, end, values in rows:
            handle.write(f"{chrom}\t{start}\t{end}\t{float(values[output]):.6g}\n")


def _write_bigwig(path: Path, rows: list[TrackRow], output: int, sizes: Mapping[str, int]) -> None:
    import pybigtools

    used = {row[0] for row in rows}
    writer = pybigtools.open(str(path), "w")
    writer.write(
        {chrom: size for chrom, size in sizes.items() if chrom in used},
        ((chrom, start, end, float(values[output])) for chrom, start, end, values in rows),
    )


TRACK_FORMATS: Mapping[str, tuple[str, Callable[..., None]]] = {
    "bigwig": (".bw", _write_bigwig),
    "bedgraph": (".bedGraph", _write_bedgraph),
}


def track_file_name(profile: str, suffix: str) -> str:
    """A file name for an output's track: the profile name with unsafe characters as `_`."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", profile) + suffix


def write_tracks(
    rows: list[TrackRow],
    profiles: list[str],
    genome: pyfaidx.Fasta,
    directory: str | Path,
    track_format: str,
) -> list[Path]:
    """One track per model output in `directory` (`<profile>.bw` or `<profile>.bedGraph`), each
    written atomically; returns their paths. `rows` come from `record_track_rows`, in any
    order; chromosome sizes from `genome`."""
    if track_format not in TRACK_FORMATS:
        raise GenomixError(
            f"track format '{track_format}' is not one of {', '.join(TRACK_FORMATS)}"
        )
    suffix, write = TRACK_FORMATS[track_format]
    rows = sorted_track_rows(rows)
    sizes = {}
    for chrom in dict.fromkeys(row[0] for row in rows):
        found = match_chromosome(chrom, genome.keys())
        sizes[chrom] = len(genome[found])
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for output, profile in enumerate(profiles):
        path = directory / track_file_name(profile, suffix)
        with atomic_path(path, suffix=path.suffix) as temporary:
            write(temporary, rows, output, sizes)
        paths.append(path)
    return paths
