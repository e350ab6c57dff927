"""Atomic output files: written under a temporary name in the same folder, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    With `keep_suffix`, the temporary name ends in `path`'s suffix too (for writers that pick
    the format by file name, as pybigtools does).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".partial" + (path.suffix if keep_suffix else "")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_tsv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as TSV (gzip when `path` ends in .gz), atomically."""
    path = Path(path)
    with atomic_path(path) as temporary:
        frame.to_csv(
            temporary,
            sep="\t",
            index=False,
            float_format="%.6g",
            compression="gzip" if path.suffix == ".gz" else None,
        )
    return path
