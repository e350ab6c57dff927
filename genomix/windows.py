"""Windows over records of any length: cut as the bases stream in, scored a batch at a time and
folded into one row per record (or kept per window), so memory does not grow with a record's
length in the default (aggregated) mode."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from genomix.errors import GenomixError
from genomix.seqio.fasta import FastaStream

logger = logging.getLogger(__name__)


# How a record's window scores (W, P) become one row (P,): folded one window at a time, so a
# record's windows are never all held.
class _Max:
    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def add(self, row: np.ndarray) -> None:
        """Fold in one window's scores (P,)."""
        self.value = row.copy() if self.value is None else np.maximum(self.value, row)

    def result(self) -> np.ndarray:
        """(P,) the maximum over every window added."""
        assert self.value is not None
        return self.value


class _Mean:
    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, row: np.ndarray) -> None:
        """Fold in one window's scores (P,)."""
        row = row.astype(np.float64)
        self.total = row if self.total is None else self.total + row
        self.count += 1

    def result(self) -> np.ndarray:
        """(P,) the mean over every window added."""
        assert self.total is not None
        return (self.total / self.count).astype(np.float32)


AGGREGATES: dict[str, type[_Max] | type[_Mean]] = {"max": _Max, "mean": _Mean}


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """0-based starts of the windows covering a record of `length` bases.

    One window when the record fits; otherwise every `stride` bases, plus a last window flush with
    the record's end. With stride <= window (predict_fasta checks it) no base is left out.
    """
    if length <= window:
        return [0]
    last = length - window
    return [*range(0, last + 1, stride), *([last] if last % stride else [])]


def n_fraction(sequence: str) -> float:
    """Fraction of N in an upper-case ACGTN sequence (0 for an empty one)."""
    return sequence.count("N") / len(sequence) if sequence else 0.0


@dataclass(eq=False)
class ScoredRecord:
    """A record whose windows are being scored.

    Attributes:
        id: the record's name.
        aggregate: folds its window scores (max or mean).
        length, n_count: bases and N bases read so far (the whole record once `closed`).
        windows: with per-window output, (start, end, n_fraction, scores (P,)) of each window.
        left: windows cut but not scored yet.
        closed: every window is cut; error: why it is skipped (with skip_invalid).
    """

    id: str
    aggregate: _Max | _Mean
    length: int = 0
    n_count: int = 0
    windows: list[tuple[int, int, float, np.ndarray]] = field(default_factory=list)
    left: int = 0
    closed: bool = False
    error: str | None = None

    @property
    def n_fraction(self) -> float:
        """Fraction of the record's bases that are N."""
        return self.n_count / self.length if self.length else 0.0


def cut_windows(
    chunks: Iterable[str], record: ScoredRecord, *, window: int, stride: int, minimum: int
) -> Iterator[tuple[int, int, str]]:
    """(start, end, bases) of the windows of a record read in `chunks`, as `window_starts` places
    them; only the last `window` bases and one chunk are held. Counts `record`'s bases and Ns.

    Raises:
        GenomixError: the record is shorter than `minimum` bases (one k-mer).
    """
    buffer, offset, start = "", 0, 0  # buffer holds the bases from `offset` on
    for chunk in chunks:
        record.length += len(chunk)
        record.n_count += chunk.count("N")
        buffer += chunk
        while start + window <= record.length:
            yield start, start + window, buffer[start - offset : start - offset + window]
            start += stride
        keep = max(offset, min(start, record.length - window))  # the next windows need no less
        buffer, offset = buffer[keep - offset :], keep
    length = record.length
    if length < minimum:
        raise GenomixError(f"record '{record.id}' is {length} bp, shorter than one {minimum}-mer")
    if length < window:
        yield 0, length, buffer
    elif (length - window) % stride:
        yield length - window, length, buffer[length - window - offset :]


def scored_records(
    streams: Iterable[FastaStream],
    score: Callable[[list[str]], np.ndarray],
    *,
    window: int,
    stride: int,
    minimum: int,
    batch_size: int,
    aggregate: str,
    per_window: bool,
    skip_invalid: bool,
    on_skip: Callable[[str], None],
    on_batch: Callable[[int], None],
) -> Iterator[ScoredRecord]:
    """Score the windows of every record, `batch_size` at a time (a batch may span records), and
    yield each record, in file order, once all its windows are scored.

    A record's error (invalid base, bad name, too short) stops the run, or with `skip_invalid`
    is passed to `on_skip` and the record is left out; `on_batch` gets each batch's size.
    """
    pending: deque[ScoredRecord] = deque()
    batch: list[tuple[ScoredRecord, int, int, str]] = []

    def finished() -> Iterator[ScoredRecord]:
        while pending and pending[0].closed and not pending[0].left:
            record = pending.popleft()
            if record.error is None:
                yield record

    def flush() -> Iterator[ScoredRecord]:
        for (record, start, end, bases), row in zip(
            batch, score([w[3] for w in batch]), strict=True
        ):
            record.left -= 1
            if per_window:
                record.windows.append((start, end, n_fraction(bases), row))
            else:
                record.aggregate.add(row)
        on_batch(len(batch))
        batch.clear()
        yield from finished()

    for stream in streams:
        record = ScoredRecord(stream.id, AGGREGATES[aggregate]())
        pending.append(record)
        try:
            cut = cut_windows(stream.chunks, record, window=window, stride=stride, minimum=minimum)
            for start, end, bases in cut:
                batch.append((record, start, end, bases))
                record.left += 1
                if len(batch) == batch_size:
                    yield from flush()
        except GenomixError as error:
            if not skip_invalid:
                raise
            record.error = str(error)
            on_skip(record.error)
        record.closed = True
        yield from finished()
    if batch:
        yield from flush()
    yield from finished()
