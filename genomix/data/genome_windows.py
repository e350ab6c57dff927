"""Windows of a genome kept as coordinates; their DNA is cut from the FASTA when asked for.

A coordinate table of N rows costs 17 bytes a row here (chromosome id, start, end: 4 bytes
each; strand: 1; table row: 4) instead of the window's sequence (about 1 kB a row for 1,000-bp
windows as Python strings). ``GenomeWindows`` is a read-only sequence of upper-case ACGTN
strings: indexing, slicing and iterating cut the windows (strand '-' reverse-complemented,
IUPAC codes -> N). The genome is opened lazily once per process, so a DataLoader worker opens
its own handle.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from genomix.errors import GenomixError
from genomix.seqio.fasta import NUCLEOTIDE_TABLE
from genomix.seqio.genome import open_genome
from genomix.seqio.regions import reverse_complement

CANONICAL_BYTES = NUCLEOTIDE_TABLE.tobytes()  # for bytes.translate
_ITER_CHUNK = 4096  # windows cut per step when iterating


def load_genome(genome: Path) -> Mapping[str, object]:
    """`genomix.seqio.genome.open_genome`, a plain-gzip FASTA read whole (by each process that
    cuts windows from it)."""
    if not genome.is_file():
        raise GenomixError(f"{genome}: genome FASTA not found")
    return open_genome(genome, load_plain_gzip=True)


def chromosome_lengths(genome: Path) -> dict[str, int]:
    """Name -> length of every record of `genome` (from the index for an indexed FASTA)."""
    fasta = load_genome(genome)
    names = list(fasta.keys())  # iterating a pyfaidx.Fasta yields records, not names
    return {name: len(fasta[name]) for name in names}


def check_windows(
    chrom: Sequence[str],
    starts: np.ndarray,
    ends: np.ndarray,
    lengths: Mapping[str, int],
    *,
    path: Path,
    genome: Path,
    first_line: int = 2,
) -> None:
    """Refuse an unknown chromosome or a window outside its record, naming the table's line.

    chrom, starts, ends: (N,) of table rows whose first is on line `first_line` of `path`.
    """
    for row, name in enumerate(chrom):
        if name not in lengths:
            raise GenomixError(
                f"{path}: line {row + first_line}: chromosome '{name}' not in {genome}"
            )
    size = np.array([lengths[name] for name in chrom], dtype=np.int64)
    bad = ~((starts >= 0) & (starts < ends) & (ends <= size))
    if bad.any():
        row = int(np.argmax(bad))
        raise GenomixError(
            f"{path}: line {row + first_line}: {chrom[row]}:{starts[row]}-{ends[row]} is outside "
            f"the record ({size[row]} bp) in {genome}"
        )


class GenomeWindows(Sequence[str]):
    """N windows of `genome`, given as rows of the table `path`.

    Attributes:
        path: the table the windows come from (named in errors).
        genome: the FASTA they are cut from.
        chroms: C chromosome names.
        chrom: (N,) int32 index into `chroms`.
        start, end: (N,) uint32 (int64 past 4 Gb) 0-based, end-exclusive.
        reverse: (N,) bool, strand '-'.
        rows: (N,) uint32 (int64 past 4 G rows) 0-based data row of each window in `path`.
    """

    def __init__(
        self,
        *,
        path: Path,
        genome: Path,
        chroms: tuple[str, ...],
        chrom: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        reverse: np.ndarray,
        rows: np.ndarray,
    ) -> None:
        self.path, self.genome, self.chroms = path, genome, chroms
        self.chrom, self.start, self.end, self.reverse, self.rows = chrom, start, end, reverse, rows
        self._fasta: tuple[int, Mapping[str, object]] | None = None

    def __getstate__(self) -> dict[str, object]:
        # a worker process opens its own genome handle (a shared file offset would interleave)
        return {**self.__dict__, "_fasta": None}

    def __len__(self) -> int:
        return len(self.chrom)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return self.fetch(np.arange(len(self))[index])
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} of {len(self)}")
        return self.fetch(np.array([index % len(self)]))[0]

    def __iter__(self) -> Iterator[str]:
        for first in range(0, len(self), _ITER_CHUNK):
            yield from self[first : first + _ITER_CHUNK]

    def lengths(self) -> np.ndarray:
        """(N,) int64 window lengths in bp."""
        return self.end.astype(np.int64) - self.start.astype(np.int64)

    def take(self, index: np.ndarray) -> GenomeWindows:
        """The windows at (M,) int `index`, in that order."""
        return GenomeWindows(
            path=self.path,
            genome=self.genome,
            chroms=self.chroms,
            chrom=self.chrom[index],
            start=self.start[index],
            end=self.end[index],
            reverse=self.reverse[index],
            rows=self.rows[index],
        )

    def ids(self) -> WindowIds:
        """The windows' ids ``chrom:start-end``, computed when read."""
        return WindowIds(self)

    def fetch(self, index: np.ndarray) -> list[str]:
        """The DNA of the windows at (M,) int `index`: M upper-case ACGTN strings.

        Raises GenomixError naming the table's line for a base that is not ACGTN or IUPAC.
        """
        fasta = self._genome()
        out = []
        for i in np.asarray(index, dtype=np.int64).tolist():
            seq = str(fasta[self.chroms[self.chrom[i]]][int(self.start[i]) : int(self.end[i])])
            seq = seq.upper()
            if self.reverse[i]:
                seq = reverse_complement(seq)
            canonical = seq.encode("ascii", errors="replace").translate(CANONICAL_BYTES)
            bad = canonical.find(0)
            if bad >= 0:
                raise GenomixError(
                    f"{self.path}: line {int(self.rows[i]) + 2}: invalid base {seq[bad]!r} at "
                    f"position {bad + 1} (expected ACGTN or IUPAC)"
                )
            out.append(canonical.decode("ascii"))
        return out

    def _genome(self) -> Mapping[str, object]:
        if self._fasta is None or self._fasta[0] != os.getpid():
            self._fasta = (os.getpid(), load_genome(self.genome))
        return self._fasta[1]


class WindowIds(Sequence[str]):
    """The ids ``chrom:start-end`` of GenomeWindows, without holding N strings."""

    def __init__(self, windows: GenomeWindows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        w = self.windows
        return f"{w.chroms[w.chrom[index]]}:{w.start[index]}-{w.end[index]}"

    def take(self, index: np.ndarray) -> WindowIds:
        """The ids of the windows at (M,) int `index`."""
        return WindowIds(self.windows.take(index))
