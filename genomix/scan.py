"""Genome scan: score a whole genome once per base, in parts that separate jobs can run.

The chromosomes are cut into tiles of `tile` bases (the last tile of a chromosome may be
shorter). Each tile is scored by one window of the model's length (`window_bases`) centred on
it, shifted inside the chromosome at its ends, so every base gets exactly one score, from the
window it sits in the middle of (to within the shift at chromosome ends). With `tile` equal to
the window (the default) each window is scored once and no two windows overlap: half the windows
of `genomix predict`'s default half-window stride. A smaller tile gives each base more context on
both sides, at window / tile windows per window of genome.

A scan can be split into `parts` (part i of n: the i-th contiguous n-th of all tiles, in .fai
order), one job each; `gather_tables` concatenates the parts' tables in order into the table a
single job would have written. Tiles with no A, C, G or T (assembly gaps) are not scored and get
no row. Rows: ``chrom, start, end`` (the tile, 0-based half-open), then one probability per
model output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from genomix.checkpoint import load_classifier
from genomix.errors import GenomixError
from genomix.runtime import hide_progress, resolve_device
from genomix.scoring import score_sequences
from genomix.seqio.fasta import normalize_sequence
from genomix.seqio.genome import fetch_sequence, open_genome
from genomix.seqio.outputs import open_table, output_format_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tile:
    """One output row's bases [start, end) of `chrom`, scored by the window [window_start,
    window_end)."""

    chrom: str
    start: int
    end: int
    window_start: int
    window_end: int


def chromosome_tiles(
    chrom: str, length: int, *, window: int, tile: int, first: int = 0, last: int | None = None
) -> Iterator[Tile]:
    """Tiles `first` to `last` (exclusive; default all) of one chromosome of `length` bases, each
    with its centred window.

    A window is [centre - window // 2, + window), shifted to lie inside [0, length); a
    chromosome shorter than the window is one window over all of it.
    """
    count = -(-length // tile)
    for index in range(first, count if last is None else min(last, count)):
        start = index * tile
        end = min(start + tile, length)
        window_start = max(0, min((start + end) // 2 - window // 2, length - window))
        yield Tile(chrom, start, end, window_start, min(window_start + window, length))


def part_tiles(
    lengths: Sequence[tuple[str, int]], *, window: int, tile: int, part: int, parts: int
) -> tuple[Iterator[Tile], int]:
    """Part `part` (0-based) of `parts` of the tiles of `lengths` ((chrom, length), in order):
    tiles [part * T // parts, (part + 1) * T // parts) of all T tiles, made as they are read.

    Returns:
        (the tiles, the number of bases they cover).
    """
    if not 1 <= tile <= window:
        raise GenomixError(f"tile must be 1 to {window} bases (the model's window), got {tile}")
    if not 0 <= part < parts:
        raise GenomixError(f"part {part + 1} of {parts}: give a part from 1 to {parts}")
    counts = [-(-length // tile) for _, length in lengths]
    total = sum(counts)
    first, last = part * total // parts, (part + 1) * total // parts
    pieces, bases, offset = [], 0, 0
    for (chrom, length), count in zip(lengths, counts, strict=True):
        low, high = max(first - offset, 0), min(last - offset, count)
        if low < high:
            pieces.append((chrom, length, low, high))
            bases += min(high * tile, length) - low * tile
        offset += count
    tiles = (
        tile_
        for chrom, length, low, high in pieces
        for tile_ in chromosome_tiles(chrom, length, window=window, tile=tile, first=low, last=high)
    )
    return tiles, bases


def scan_genome(
    model_dir: str | Path,
    genome: str | Path,
    out: str | Path,
    *,
    chroms: Sequence[str] = (),
    tile: int | None = None,
    part: int = 0,
    parts: int = 1,
    batch_size: int = 32,
    device: str = "auto",
    output_format: str | None = None,
    progress: bool | None = None,
) -> int:
    """Score part `part` (0-based) of `parts` of a genome scan (module docstring) into `out`.

    Args:
        model_dir: a fine-tuned model directory.
        genome: an indexed FASTA (plain or BGZF).
        chroms: chromosomes to scan, in this order (default: all, in .fai order).
        tile: bases per row (default: the model's window).
        output_format: tsv or parquet (default: from `out`'s suffix).

    Returns:
        The number of rows written.
    """
    model, tokenizer, metadata = load_classifier(model_dir)
    window = int(metadata["window_bases"])
    tile = window if tile is None else tile
    fasta = open_genome(genome)
    names = list(chroms) or list(fasta.keys())
    missing = [name for name in names if name not in fasta]
    if missing:
        raise GenomixError(f"{genome}: no chromosome {missing[0]!r}")
    tiles, bases = part_tiles(
        [(name, len(fasta[name])) for name in names],
        window=window,
        tile=tile,
        part=part,
        parts=parts,
    )
    if batch_size < 1:
        raise GenomixError(f"batch size must be at least 1, got {batch_size}")
    torch_device = resolve_device(device)
    model.to(torch_device)
    profiles = metadata["profiles"]
    columns, kinds = ["chrom", "start", "end", *profiles], [str, int, int, *[float] * len(profiles)]
    pad_to = tokenizer.tokens_for_length(window) + 1
    written = 0
    with open_table(out, columns, kinds, output_format=output_format) as table:
        bar = tqdm(
            total=bases, unit="bp", unit_scale=True, desc=f"scan {part + 1}/{parts}",
            disable=hide_progress(progress),
        )  # fmt: skip
        for batch in _batches(tiles, batch_size):
            sequences = [
                normalize_sequence(
                    fetch_sequence(fasta, t.chrom, t.window_start, t.window_end),
                    where=f"{genome}: {t.chrom}:{t.window_start}-{t.window_end}",
                )
                for t in batch
            ]
            scored = [i for i, t in enumerate(batch) if _has_bases(sequences[i], t)]
            if scored:
                probabilities = score_sequences(
                    model,
                    tokenizer,
                    [sequences[i] for i in scored],
                    batch_size=batch_size,
                    device=torch_device,
                    pad_to=pad_to,
                )
                for i, row in zip(scored, probabilities, strict=True):
                    table.write([batch[i].chrom, batch[i].start, batch[i].end, *row])
            written += len(scored)
            bar.update(sum(t.end - t.start for t in batch))
        bar.close()
    logger.info("scan part %d of %d: %d tiles -> %s", part + 1, parts, written, out)
    return written


def _batches(tiles: Iterator[Tile], size: int) -> Iterator[list[Tile]]:
    batch: list[Tile] = []
    for tile in tiles:
        batch.append(tile)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _has_bases(window_sequence: str, tile: Tile) -> bool:
    """Whether the tile (inside its window's sequence) holds any A, C, G or T."""
    offset = tile.start - tile.window_start
    bases = window_sequence[offset : offset + tile.end - tile.start]
    return len(bases) != bases.count("N")


def gather_tables(parts: Sequence[str | Path], out: str | Path) -> int:
    """Concatenate scan part tables (TSV or Parquet, in the order given) into `out`, atomically,
    one part in memory at a time.

    Returns the number of rows. GenomixError when the parts' columns differ.
    """
    if not parts:
        raise GenomixError("gather: no part tables given")
    columns = list(_read_part(Path(parts[0])).columns)
    kinds = [str, int, int, *[float] * (len(columns) - 3)]
    rows = 0
    with open_table(out, columns, kinds) as table:
        for path in parts:
            frame = _read_part(Path(path))
            if list(frame.columns) != columns:
                raise GenomixError(
                    f"{path}: columns {', '.join(frame.columns)} differ from {parts[0]}'s "
                    f"({', '.join(columns)}); were the parts scanned with the same model?"
                )
            for row in frame.itertuples(index=False):
                table.write(list(row))
            rows += len(frame)
    return rows


def _read_part(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise GenomixError(f"{path}: no such part table")
    try:
        if output_format_of(path, None) == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t", dtype={"chrom": str})
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise GenomixError(f"{path}: cannot read as a scan table ({error})") from None
    if list(frame.columns[:3]) != ["chrom", "start", "end"]:
        raise GenomixError(f"{path}: not a scan table (first columns are not chrom, start, end)")
    frame[frame.columns[3:]] = frame[frame.columns[3:]].astype(np.float32)
    return frame
