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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path

FORMATS = ("tsv", "parquet")
STDOUT = Path("-")
ROW_GROUP = 65_536


def output_format_of(out: str | Path, output_format: str | None) -> str:
    """`output_format` if given (tsv or parquet), else parquet for a ``.parquet`` name, else tsv."""
    if output_format is None:
        return "parquet" if Path(out).suffix.lower() == ".parquet" else "tsv"
    if output_format not in FORMATS:
        raise GenomixError(f"output format '{output_format}' is not one of {', '.join(FORMATS)}")
    return output_format


class TableWriter:
    """Write rows of fixed columns; `kinds` gives each column's type: str, int, bool or float.

    Parquet rows are written `row_group` at a time; with `gzip_tsv`, TSV is gzip-compressed.
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
        self._columns, self._kinds, self._fmt = list(columns), list(kinds), fmt
        self._row_group = row_group
        self._rows: list[Sequence[Any]] = []
        if fmt == "tsv":
            # Both closed in close(); a GzipFile does not close the file it writes to.
            self._raw: IO[bytes] | None = None
            if path == STDOUT:
                self._handle = sys.stdout
            elif gzip_tsv:  # no file name and mtime 0 in the header: same rows, same bytes
                self._raw = open(path, "wb")  # noqa: SIM115
                compressed = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
                self._handle: IO[str] = io.TextIOWrapper(compressed, newline="")
            else:
                self._handle = open(path, "w", newline="")  # noqa: SIM115
            self._tsv = csv.writer(self._handle, delimiter="\t", lineterminator="\n")
            self._tsv.writerow(self._columns)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            types = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float32()}
            self._schema = pa.schema([(c, types[k]) for c, k in zip(columns, kinds, strict=True)])
            self._parquet = pq.ParquetWriter(path, self._schema)

    def write(self, row: Sequence[Any]) -> None:
        """Add one row: values in column order."""
        if self._fmt == "tsv":
            cells = zip(row, self._kinds, strict=True)
            self._tsv.writerow(
                [f"{value:.6g}" if kind is float else value for value, kind in cells]
            )
            return
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
        """Write what is buffered and close the file."""
        if self._fmt == "tsv":
            if self._handle is sys.stdout:
                self._handle.flush()  # standard output stays open for the caller
            else:
                self._handle.close()
            if self._raw is not None:
                self._raw.close()
        else:
            self._flush()
            self._parquet.close()


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
        if fmt != "tsv":
            raise GenomixError("-o -: standard output takes TSV only; give a file for parquet")
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
