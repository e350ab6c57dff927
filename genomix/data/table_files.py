"""Read a labelled table file (TSV/CSV, gzip or plain, or Parquet) as string columns, in chunks.

Every cell comes back as a string (Parquet numbers as their text), so the table reader parses
one layout whatever the file format.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from genomix.errors import GenomixError
from genomix.seqio.compression import open_bytes

PARQUET_SUFFIX = ".parquet"


def iter_frames(path: Path, *, chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The table's rows as string DataFrames of `chunk_rows` rows (None: one frame).

    Chunks keep the file's row order; the first chunk's columns are every chunk's. Refused:
    a missing file, corrupt gzip, text that is not UTF-8, no header or no rows, and a column
    name given twice (pandas would rename the second one ``name.1``).
    """
    if not path.is_file():
        raise GenomixError(f"{path}: file not found")
    if path.suffix.lower() == PARQUET_SUFFIX:
        yield from _parquet_frames(path, chunk_rows)
        return
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    sep = {".tsv": "\t", ".tab": "\t", ".txt": "\t", ".csv": ","}.get(ext)
    rows = 0
    try:
        with io.TextIOWrapper(open_bytes(path), encoding="utf-8", newline="") as fh:
            head = fh.readline()
            sep = sep or ("\t" if "\t" in head else ",")
            _check_header(path, head, sep)
            fh.seek(0)
            read = pd.read_csv(fh, sep=sep, dtype=str, keep_default_na=False, chunksize=chunk_rows)
            for frame in [read] if chunk_rows is None else read:
                frame.columns = [str(c).strip() for c in frame.columns]
                rows += len(frame)
                if len(frame):
                    yield frame
    except UnicodeDecodeError as err:
        raise GenomixError(
            f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x}); binary or damaged"
        ) from None
    except pd.errors.EmptyDataError:
        raise GenomixError(f"{path}: empty table (no header)") from None
    except pd.errors.ParserError as err:
        kind = "TSV" if sep == "\t" else "CSV"
        reason = " ".join(str(err).split())  # one line
        raise GenomixError(f"{path}: cannot parse as {kind} ({reason})") from None
    if rows == 0:
        raise GenomixError(f"{path}: empty table (header but no rows)")


def _check_header(path: Path, head: str, sep: str) -> None:
    names = [name.strip().strip('"') for name in head.rstrip("\r\n").split(sep)]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise GenomixError(
                f"{path}: line 1: column {name!r} is given twice (columns "
                f"{names.index(name) + 1} and {index + 1})"
            )


def _parquet_frames(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """Parquet row batches as string DataFrames (pyarrow reads one batch at a time)."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise GenomixError(f"{path}: cannot read as Parquet ({err})") from None
    if parquet.metadata.num_rows == 0:
        raise GenomixError(f"{path}: empty table (header but no rows)")
    size = chunk_rows or parquet.metadata.num_rows
    for batch in parquet.iter_batches(batch_size=size):
        frame = batch.to_pandas()
        yield frame.astype(str).set_axis([str(c).strip() for c in frame.columns], axis=1)
