"""Read a user's labelled table (TSV/CSV, gzip or plain) into sequences, labels and splits.

A table gives each row's DNA either as a ``sequence`` column or as ``chrom,start,end[,strand]``
against a genome FASTA (0-based, end-exclusive; strand '-' is reverse-complemented). Labels are
a ``label`` column (binary task) or one 0/1 column per profile (multilabel task: every column
that is not in ``METADATA_COLUMNS``). A ``split`` column (train/valid/test) is used when present;
otherwise a seeded 0.8/0.1/0.1 split by ``pair_id`` (so pairs stay together), else by row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genomix.data.genome_windows import CANONICAL_BYTES, GenomeWindows, WindowIds, load_genome
from genomix.data.table_files import iter_frames
from genomix.errors import GenomixError
from genomix.seqio.regions import reverse_complement

logger = logging.getLogger(__name__)

METADATA_COLUMNS = frozenset(
    {"sequence", "chrom", "start", "end", "strand", "split", "pair_id", "id", "name"}
    | {"gena_fold", "gena_row"}
)
SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class LabeledTable:
    """A labelled set, one entry per row of the table.

    Attributes:
        sequences: N upper-case ACGTN strings: a list, or GenomeWindows that cut them from the
            genome when read (a streamed coordinate table).
        labels: (N, P) 0/1, float32 (uint8 for a streamed coordinate table).
        profiles: P label names (``("promoter",)`` for the promoter task).
        split: (N,) str 'train' / 'valid' / 'test'.
        ids: N row ids (id/name column, else chrom:start-end, else the row index); a list, or
            WindowIds of a streamed coordinate table.
        groups: P profile groups (e.g. DNase / TF / HM for DeepSEA), or None when ungrouped.
    """

    sequences: Sequence[str]
    labels: np.ndarray
    profiles: tuple[str, ...]
    split: np.ndarray
    ids: Sequence[str]
    groups: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.groups is not None and len(self.groups) != len(self.profiles):
            raise GenomixError(
                f"{len(self.groups)} profile groups for {len(self.profiles)} profiles; "
                "give one group per profile"
            )

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, which: str | np.ndarray) -> LabeledTable:
        """Rows of one split ('train'/'valid'/'test'), or rows by (N,) bool mask or int indices."""
        if isinstance(which, str):
            if which not in SPLITS:
                raise GenomixError(f"unknown split '{which}' (expected one of {', '.join(SPLITS)})")
            index = np.flatnonzero(self.split == which)
        else:
            which = np.asarray(which)
            index = np.flatnonzero(which) if which.dtype == bool else which.astype(np.int64)
        return LabeledTable(
            sequences=_take(self.sequences, index),
            labels=self.labels[index],
            profiles=self.profiles,
            split=self.split[index],
            ids=_take(self.ids, index),
            groups=self.groups,
        )


def _take(items: Sequence[str], index: np.ndarray) -> Sequence[str]:
    """items[index] for (M,) int `index`: a list's entries, or the windows' own `take`."""
    if isinstance(items, GenomeWindows | WindowIds):
        return items.take(index)
    return [items[i] for i in index]


def _read_frame(path: Path) -> pd.DataFrame:
    """The whole table as one string DataFrame (see `genomix.data.table_files.iter_frames`)."""
    [frame] = list(iter_frames(path))
    return frame


def _fetch_sequences(frame: pd.DataFrame, path: Path, genome: Path) -> list[str]:
    """Cut chrom:start-end from the genome, reverse-complementing strand '-'."""
    fasta = load_genome(genome)
    try:
        starts = frame["start"].astype(np.int64).to_numpy()
        ends = frame["end"].astype(np.int64).to_numpy()
    except ValueError:
        raise GenomixError(f"{path}: start/end must be integers") from None
    strands = frame["strand"].to_numpy() if "strand" in frame else np.full(len(frame), "+")
    sequences: list[str] = []
    for row, (chrom, start, end, strand) in enumerate(
        zip(frame["chrom"], starts, ends, strands, strict=True)
    ):
        if chrom not in fasta:
            raise GenomixError(f"{path}: line {row + 2}: chromosome '{chrom}' not in {genome}")
        record = fasta[chrom]
        if not 0 <= start < end <= len(record):
            raise GenomixError(
                f"{path}: line {row + 2}: {chrom}:{start}-{end} is outside the record "
                f"({len(record)} bp) in {genome}"
            )
        seq = str(record[start:end]).upper()
        sequences.append(reverse_complement(seq) if strand == "-" else seq)
    return sequences


def canonical_sequences(sequences: list[str], path: Path, *, first_line: int = 2) -> list[str]:
    """Upper-case, IUPAC -> N; refuse anything else, naming the line and position (1-based).

    `first_line` is the file line of sequences[0] (2 below a header row).
    """
    joined = "".join(sequences).encode("ascii", errors="replace")
    out = joined.translate(CANONICAL_BYTES)
    bad = np.flatnonzero(np.frombuffer(out, dtype=np.uint8) == 0)
    lengths = np.array([len(s) for s in sequences])
    if (lengths == 0).any():
        row = int(np.argmax(lengths == 0))
        raise GenomixError(f"{path}: line {row + first_line}: empty sequence")
    if bad.size:
        ends = np.cumsum(lengths)
        row = int(np.searchsorted(ends, bad[0], side="right"))
        pos = int(bad[0] - (ends[row] - lengths[row]))
        raise GenomixError(
            f"{path}: line {row + first_line}: invalid base {sequences[row][pos]!r} at position "
            f"{pos + 1} (expected ACGTN or IUPAC)"
        )
    text = out.decode("ascii")
    ends = np.cumsum(lengths)
    return [text[e - n : e] for e, n in zip(ends.tolist(), lengths.tolist(), strict=True)]


def label_columns(names: list[str], task: str, path: Path) -> tuple[list[str], tuple[str, ...]]:
    """The task kind's label columns among the table's column `names`, and its profile names."""
    from genomix.tasks import get_task  # the tasks import this module's METADATA_COLUMNS

    return get_task(task).label_columns(names, path)


def parse_labels(
    frame: pd.DataFrame, columns: list[str], path: Path, *, first_line: int = 2
) -> np.ndarray:
    """(N, P) float32 from 0/1 columns; anything else names the column and line.

    `first_line` is the file line of the frame's first row.
    """
    labels = np.zeros((len(frame), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy()
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            row = int(np.argmax(bad))
            raise GenomixError(
                f"{path}: line {row + first_line}: column '{column}' has value "
                f"{frame[column].iloc[row]!r} (expected 0 or 1)"
            )
        labels[:, j] = values
    return labels


def _make_split(frame: pd.DataFrame, path: Path, seed: int) -> np.ndarray:
    """(N,) the table's split column, or a seeded split of pair_id groups (else rows)."""
    if "split" in frame:
        return check_split(frame["split"], path)
    groups = frame["pair_id"].to_numpy() if "pair_id" in frame else np.arange(len(frame))
    return seeded_split(groups, seed)


def check_split(column: pd.Series, path: Path, *, first_line: int = 2) -> np.ndarray:
    """(N,) object 'train'/'valid'/'test' of a split column whose first row is on `first_line`."""
    split = column.str.strip().to_numpy(dtype=object)
    bad = ~np.isin(split, SPLITS)
    if bad.any():
        row = int(np.argmax(bad))
        raise GenomixError(
            f"{path}: line {row + first_line}: split {split[row]!r} (expected train, valid or test)"
        )
    return split


def seeded_split(groups: np.ndarray, seed: int) -> np.ndarray:
    """(N,) object split of rows by their (N,) group: a seeded 0.8/0.1/0.1 split of the groups."""
    unique, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(unique.size)
    n_train = round(SPLIT_FRACTIONS[0] * unique.size)
    n_valid = round(SPLIT_FRACTIONS[1] * unique.size)
    group_split = np.empty(unique.size, dtype=object)
    group_split[order[:n_train]] = "train"
    group_split[order[n_train : n_train + n_valid]] = "valid"
    group_split[order[n_train + n_valid :]] = "test"
    return group_split[inverse]


def read_labeled_table(
    path: str | Path,
    *,
    task: str,
    genome: str | Path | None = None,
    seed: int = 0,
    stream: bool = False,
) -> LabeledTable:
    """Read a labelled table (see the module docstring for the layout).

    Args:
        path: TSV/CSV, gzip or plain, or Parquet (``.parquet``).
        task: a task kind (`genomix.tasks`): 'binary' (a ``label`` column) or 'multilabel'
            (one 0/1 column per profile); legacy 'promoter' and 'chromatin' name them too.
        genome: FASTA to cut ``chrom,start,end`` rows from (needed without a sequence column).
        seed: seed of the split when the table has no ``split`` column.
        stream: keep a coordinate table as coordinates (`genomix.data.window_table`): the
            sequences are GenomeWindows, cut when read; the same rows, labels and split.

    Returns:
        LabeledTable with N rows and P profiles.
    """
    path = Path(path)
    if stream and genome is not None:
        from genomix.data.window_table import read_window_table

        table = read_window_table(path, task=task, genome=Path(genome), seed=seed)
        if table is not None:
            return table
    frame = _read_frame(path)
    if "sequence" in frame:
        sequences = frame["sequence"].str.strip().tolist()
    elif {"chrom", "start", "end"} <= set(frame.columns):
        if genome is None:
            raise GenomixError(f"{path}: rows are chrom/start/end coordinates but no genome given")
        sequences = _fetch_sequences(frame, path, Path(genome))
    else:
        raise GenomixError(f"{path}: needs a 'sequence' column or 'chrom', 'start', 'end' columns")
    columns, profiles = label_columns(list(frame.columns), task, path)
    labels = parse_labels(frame, columns, path)
    sequences = canonical_sequences(sequences, path)
    if "id" in frame:
        ids = frame["id"].tolist()
    elif "name" in frame:
        ids = frame["name"].tolist()
    elif {"chrom", "start", "end"} <= set(frame.columns):
        ids = (frame["chrom"] + ":" + frame["start"] + "-" + frame["end"]).tolist()
    else:
        ids = [str(i) for i in range(len(frame))]
    split = _make_split(frame, path, seed)
    logger.info("%s: %d rows, %d profiles", path, len(sequences), len(profiles))
    return LabeledTable(sequences, labels, profiles, split, ids)
