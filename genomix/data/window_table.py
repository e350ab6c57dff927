"""Read a coordinate table (``chrom,start,end[,strand]`` + labels) chunk by chunk, as windows.

Neither the table nor its sequences are held whole: each chunk of `CHUNK_ROWS` rows is checked
against the genome's record lengths and reduced to compact arrays (GenomeWindows: 17 bytes a
row; labels: one uint8 per profile; split: one pointer). Rows, labels and split are
those `genomix.data.tables.read_labeled_table` reads without streaming, and so are its errors.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np

from genomix.data.genome_windows import GenomeWindows, check_windows, chromosome_lengths
from genomix.data.table_files import iter_frames
from genomix.data.tables import (
    SPLITS,
    LabeledTable,
    check_split,
    label_columns,
    parse_labels,
    seeded_split,
)
from genomix.errors import GenomixError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
SORTED_SPLITS = tuple(sorted(SPLITS))


def read_window_table(
    path: Path, *, task: str, genome: Path, seed: int, chunk_rows: int = CHUNK_ROWS
) -> LabeledTable | None:
    """The coordinate table `path` as a LabeledTable of GenomeWindows over `genome`.

    Returns None when the table is not a coordinate table (it has a ``sequence`` column, or
    lacks one of ``chrom``, ``start``, ``end``): read it whole instead.
    """
    frames = iter_frames(path, chunk_rows=chunk_rows)
    first = next(frames)
    names = list(first.columns)
    if "sequence" in names or not {"chrom", "start", "end"} <= set(names):
        frames.close()
        return None
    columns, profiles = label_columns(names, task, path)
    lengths = chromosome_lengths(genome)
    chrom_ids = {name: i for i, name in enumerate(lengths)}
    parts: dict[str, list[np.ndarray]] = {
        key: [] for key in ("chrom", "start", "end", "reverse", "labels", "split", "groups")
    }
    ids: list[str] = []
    line = 2  # the file line of the chunk's first row
    for frame in itertools.chain([first], frames):
        try:
            starts = frame["start"].astype(np.int64).to_numpy()
            ends = frame["end"].astype(np.int64).to_numpy()
        except ValueError:
            raise GenomixError(f"{path}: start/end must be integers") from None
        chrom = frame["chrom"].tolist()
        check_windows(chrom, starts, ends, lengths, path=path, genome=genome, first_line=line)
        parts["chrom"].append(np.array([chrom_ids[name] for name in chrom], dtype=np.int32))
        parts["start"].append(starts)
        parts["end"].append(ends)
        strand = frame["strand"].to_numpy() if "strand" in frame else np.full(len(frame), "+")
        parts["reverse"].append(strand == "-")
        labels = parse_labels(frame, columns, path, first_line=line)
        parts["labels"].append(labels.astype(np.uint8))
        if "split" in frame:
            split = check_split(frame["split"], path, first_line=line)
            parts["split"].append(np.searchsorted(SORTED_SPLITS, split).astype(np.uint8))
        elif "pair_id" in frame:
            parts["groups"].append(frame["pair_id"].to_numpy())
        if "id" in frame or "name" in frame:
            ids.extend(frame["id" if "id" in frame else "name"].tolist())
        line += len(frame)
    n = line - 2
    ends = np.concatenate(parts["end"])
    position = np.uint32 if ends.max() < 2**32 else np.int64
    windows = GenomeWindows(
        path=path,
        genome=genome,
        chroms=tuple(lengths),
        chrom=np.concatenate(parts["chrom"]),
        start=np.concatenate(parts["start"]).astype(position),
        end=ends.astype(position),
        reverse=np.concatenate(parts["reverse"]),
        rows=np.arange(n, dtype=np.uint32 if n < 2**32 else np.int64),
    )
    if parts["split"]:
        # the three shared split strings, not one string object per row
        split = np.array(SORTED_SPLITS, dtype=object)[np.concatenate(parts["split"])]
    else:
        groups = np.concatenate(parts["groups"]) if parts["groups"] else np.arange(n)
        split = seeded_split(groups, seed)
    logger.info("%s: %d rows, %d profiles (coordinates, streamed)", path, n, len(profiles))
    return LabeledTable(
        windows, np.concatenate(parts["labels"]), profiles, split, ids or windows.ids()
    )
