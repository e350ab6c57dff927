"""Prediction tables: rows streamed to TSV or Parquet, written atomically.

TSV is the default (floats with 6 decimals; gzip-compressed when the name ends in ``.gz``, as
``genomix.seqio.atomic.write_tsv`` does). Parquet (pyarrow: typed, columnar, compressed)
keeps float32 scores exactly; it is chosen with ``output_format="parquet"`` or by a ``.parquet``
file name. Rows are buffered and written in row groups (65,536 rows), so memory stays bounded on
genome-wide runs.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path

STDOUT = Path("-")
ROW_GROUP = 65_536


class TsvRows:
    """Rows as tab-separated text: a header, then floats with 6 significant digits."""

    def __init__(
        self, path: Path, columns: Sequence[str], kinds: Sequence[type], *, gzip_tsv: bool
    ) -> None:
        self._kinds = list(kinds)
        # Both closed in close(); a GzipFile does not close the file it writes to.
        self._raw: IO[bytes] | None = None
        if path == STDOUT:
            self._handle: IO[str] = sys.stdout
        elif gzip_tsv:  # no file name and mtime 0 in the header: same rows, same bytes
            self._raw = open(path, "wb")  # noqa: SIM115
            compressed = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
            self._handle = io.TextIOWrapper(compressed, newline="")
        else:
            self._handle = open(path, "w", newline="")  # noqa: SIM115
        self._tsv = csv.writer(self._handle, delimiter="\t", lineterminator="\n")
        self._tsv.writerow(list(columns))

    def write(self, row: Sequence[Any]) -> None:
        cells = zip(row, self._kinds, strict=True)
        self._tsv.writerow([f"{value:.6g}" if kind is float else value for value, kind in cells])

    def close(self) -> None:
        if self._handle is sys.stdout:
            self._handle.flush()  # standard output stays open for the caller
        else:
            self._handle.close()
        if self._raw is not None:
            self._raw.close()


class ParquetRows:
    """Rows as Parquet (pyarrow), buffered and written `row_group` rows at a time."""

    def __init__(
        self, path: Path, columns: Sequence[str], kinds: Sequence[type], *, row_group: int
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float32()}
        self._schema = pa.schema([(c, types[k]) for c, k in zip(columns, kinds, strict=True)])
        self._parquet = pq.ParquetWriter(path, self._schema)
        self._row_group = row_group
        self._rows: list[Sequence[Any]] = []

    def write(self, row: Sequence[Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            columns = zip(*self._rows, strict=True)
            arrays = [
                pa.array(values, type=field.type)
                for values, field in zip(columns, self._schema, strict=True)
            ]
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
            self._rows.clear()

    def close(self) -> None:
        self._flush()
        self._parquet.close()


class RowSink(Protocol):
    """What a format writes rows with: `write(row)` in column order, then `close()`."""

    def write(self, row: Sequence[Any]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OutputFormat:
    """One table format: the file suffixes that pick it and how to open its rows.

    `open(path, columns, kinds, row_group, gzip_tsv)`: a RowSink on `path`; `streams` says
    whether it can write to standard output.
    """

    suffixes: tuple[str, ...]
    open: Callable[[Path, Sequence[str], Sequence[type], int, bool], RowSink]
    streams: bool = False


# The output formats by name (`--format`). A new format is one RowSink and one entry here.
FORMATS: Mapping[str, OutputFormat] = {
    "tsv": OutputFormat(
        (".tsv", ".tsv.gz", ".txt"),
        lambda path, columns, kinds, row_group, gzip_tsv: TsvRows(
            path, columns, kinds, gzip_tsv=gzip_tsv
        ),
        streams=True,
    ),
    "parquet": OutputFormat(
        (".parquet",),
        lambda path, columns, kinds, row_group, gzip_tsv: ParquetRows(
            path, columns, kinds, row_group=row_group
        ),
    ),
}
DEFAULT_FORMAT = "tsv"


def output_format_of(out: str | Path, output_format: str | None) -> str:
    """`output_format` if given (a key of FORMATS), else the format whose suffix `out` ends
    with (``.parquet``: parquet), else tsv."""
    if output_format is None:
        name = Path(out).name.lower()
        matches = [fmt for fmt, spec in FORMATS.items() if name.endswith(spec.suffixes)]
        return matches[0] if matches else DEFAULT_FORMAT
    if output_format not in FORMATS:
        raise GenomixError(f"output format '{output_format}' is not one of {', '.join(FORMATS)}")
    return output_format


class TableWriter:
    """Write rows of fixed columns; `kinds` gives each column's type: str, int, bool or float.

    `fmt` names the format (FORMATS); with `gzip_tsv`, TSV is gzip-compressed.
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        kinds: Sequence[type],
        fmt: str,
        *,
        row_group: int = ROW_GROUP,
        gzip_tsv: bool = False,
    ):
        if len(columns) != len(kinds):
            raise ValueError("one kind per column")
        self._sink = FORMATS[fmt].open(path, columns, kinds, row_group, gzip_tsv)

    def write(self, row: Sequence[Any]) -> None:
        """Add one row: values in column order."""
        self._sink.write(row)

    def close(self) -> None:
        """Write what is buffered and close the file."""
        self._sink.close()


@contextmanager
def open_table(
    out: str | Path,
    columns: Sequence[str],
    kinds: Sequence[type],
    *,
    output_format: str | None = None,
    row_group: int = ROW_GROUP,
) -> Iterator[TableWriter]:
    """A TableWriter on a temporary file that replaces `out` only when the block succeeds.

    `out` ``-`` writes TSV to standard output (streamed: not atomic).
    """
    fmt = output_format_of(out, output_format)
    if Path(out) == STDOUT:
        if not FORMATS[fmt].streams:
            raise GenomixError(f"-o -: standard output takes TSV only; give a file for {fmt}")
        writer = TableWriter(STDOUT, columns, kinds, fmt, row_group=row_group)
        try:
            yield writer
        finally:
            writer.close()
        return
    with atomic_path(out) as temporary:
        gzip_tsv = fmt == "tsv" and Path(out).suffix.lower() == ".gz"
        writer = TableWriter(temporary, columns, kinds, fmt, row_group=row_group, gzip_tsv=gzip_tsv)
        try:
            yield writer
        finally:
            writer.close()
