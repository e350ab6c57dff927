"""Read DeepSEA's own train / valid / test sets: the bundle's MATLAB files or per-split CSVs.

A bundle is a directory with one file per split, each found as the first of
``{split}.mat``, ``{split}.csv.gz``, ``{split}.csv``, ``{split}.dataset.csv.gz``,
``{split}.dataset.csv`` (split = train, valid, test). The rows of each file are that split, so
the test rows are DeepSEA's held-out test set (chr8 and chr9) and figures are comparable with the
published ones.

MATLAB files (``deepsea_train_bundle.v0.9.tar.gz``, Zhou & Troyanskaya 2015):

- ``train.mat`` is MATLAB v7.3, an HDF5 file, which stores arrays column-major: h5py sees
  ``trainxdata`` as (1000, 4, N) uint8 and ``traindata`` as (919, N); read with h5py, in chunks
  of rows, reversing the axes.
- ``valid.mat`` and ``test.mat`` are MATLAB v5: scipy.io gives ``validxdata`` / ``testxdata``
  (N, 4, 1000) and ``validdata`` / ``testdata`` (N, 919).

Either version is accepted for any split (``h5py.is_hdf5`` tells them apart). The 4 one-hot
channels are ordered A, G, C, T (DeepSEA's order, not alphabetical); an all-zero column is N.

CSV files are GENA-LM's conversion of the same sets (``prepare_dataset.py``): no header, the
sequence, then 919 labels; read by ``deepsea.read_deepsea_rows``.

h5py and scipy are an optional extra (``pip install 'genomix[deepsea]'``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from genomix.data.tables import SPLITS, LabeledTable, canonical_sequences
from genomix.errors import GenomixError

logger = logging.getLogger(__name__)

SPLIT_SUFFIXES = (".mat", ".csv.gz", ".csv", ".dataset.csv.gz", ".dataset.csv")
# DeepSEA's one-hot channel order, then N for an all-zero column.
ONE_HOT_BASES = np.frombuffer(b"AGCTN", dtype=np.uint8)
# Rows decoded at once from the HDF5 train file: 4 MB of one-hot per 1,000 rows of 1 kb.
CHUNK_ROWS = 4096


def split_files(directory: Path) -> dict[str, Path]:
    """{split: file} of a bundle directory (module docstring); GenomixError when one is missing."""
    files = {}
    for split in SPLITS:
        candidates = [directory / f"{split}{suffix}" for suffix in SPLIT_SUFFIXES]
        found = [path for path in candidates if path.is_file()]
        if not found:
            names = ", ".join(path.name for path in candidates)
            raise GenomixError(f"{directory}: no {split} file (expected one of {names})")
        files[split] = found[0]
    return files


def read_deepsea_bundle(
    directory: Path, profiles: tuple[str, ...], groups: tuple[str, ...], features_path: Path
) -> LabeledTable:
    """The three split files of `directory` as one LabeledTable, split by file.

    Args:
        directory: the bundle (module docstring).
        profiles, groups: (P,) profile names and groups from the features file.
        features_path: that file, named in errors.

    Returns:
        LabeledTable of the train, then valid, then test rows; ids ``"{split}:{row}"`` (0-based
        row within its file), split from the file.
    """
    from genomix.data.deepsea import read_deepsea_rows  # deepsea imports this module

    sequences: list[str] = []
    labels, split, ids = [], [], []
    for name, path in split_files(directory).items():
        if path.suffix == ".mat":
            rows, values = read_matlab_split(path, name, len(profiles), features_path)
        else:
            rows, values = read_deepsea_rows(path, profiles, features_path)
            rows = canonical_sequences(rows, path, first_line=1)
        logger.info("%s: %d %s rows", path, len(rows), name)
        sequences += rows
        labels.append(values)
        split += [name] * len(rows)
        ids += [f"{name}:{i}" for i in range(len(rows))]
    return LabeledTable(
        sequences=sequences,
        labels=np.concatenate(labels),
        profiles=profiles,
        split=np.array(split, dtype=object),
        ids=ids,
        groups=groups,
    )


def read_matlab_split(
    path: Path, split: str, n_profiles: int, features_path: Path
) -> tuple[list[str], np.ndarray]:
    """Sequences (N,) and labels (N, P) float32 of one DeepSEA .mat file (v7.3 or v5)."""
    try:
        import h5py
        import scipy.io
    except ImportError as error:
        raise GenomixError(
            f"{path}: reading DeepSEA's .mat files needs h5py and scipy ({error.name} is "
            "missing; pip install 'genomix[deepsea]')"
        ) from None
    x_key, y_key = f"{split}xdata", f"{split}data"
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as mat:
            x, y = _arrays(mat, path, x_key, y_key)
            # Column-major on disk: (L, 4, N) and (P, N).
            n_rows = _check_shapes(path, x.shape[::-1], y.shape[::-1], n_profiles, features_path)
            sequences, labels = [], []
            for start in range(0, n_rows, CHUNK_ROWS):
                stop = min(start + CHUNK_ROWS, n_rows)
                one_hot = np.asarray(x[:, :, start:stop]).transpose(2, 1, 0)
                sequences += decode_one_hot(one_hot, path, first_row=start)
                labels.append(_labels(np.asarray(y[:, start:stop]).T, path, start))
            return sequences, np.concatenate(labels)
    try:
        mat = scipy.io.loadmat(path, variable_names=[x_key, y_key])
    except (scipy.io.matlab.MatReadError, ValueError, OSError, TypeError) as error:
        reason = " ".join(str(error).split())
        raise GenomixError(f"{path}: not a MATLAB file (v5 or v7.3) ({reason})") from None
    x, y = _arrays(mat, path, x_key, y_key)
    _check_shapes(path, x.shape, y.shape, n_profiles, features_path)
    return decode_one_hot(np.asarray(x), path), _labels(np.asarray(y), path, 0)


def decode_one_hot(one_hot: np.ndarray, path: Path, *, first_row: int = 0) -> list[str]:
    """(n, 4, L) one-hot in A, G, C, T order -> n strings of ACGTN; all-zero columns are N."""
    hot = one_hot != 0
    counts = hot.sum(axis=1)  # (n, L)
    invalid = (counts > 1) | (hot & (one_hot != 1)).any(axis=1)
    if invalid.any():
        row, column = (int(i) for i in np.argwhere(invalid)[0])
        raise GenomixError(
            f"{path}: example {first_row + row}, position {column + 1}: not one-hot "
            "(expected one 1 among the A, G, C, T channels, or all 0 for N)"
        )
    codes = np.where(counts == 1, hot.argmax(axis=1), 4)
    letters = ONE_HOT_BASES[codes]  # (n, L) uint8
    return [row.tobytes().decode("ascii") for row in letters]


def _arrays(mat, path: Path, x_key: str, y_key: str) -> tuple:
    missing = [key for key in (x_key, y_key) if key not in mat]
    if missing:
        raise GenomixError(
            f"{path}: no variable {', '.join(missing)} (DeepSEA's {path.stem} file holds "
            f"{x_key} and {y_key}; is the file named after its split?)"
        )
    return mat[x_key], mat[y_key]


def _check_shapes(
    path: Path, x_shape: tuple, y_shape: tuple, n_profiles: int, features_path: Path
) -> int:
    """N, after checking x (N, 4, L) and y (N, P) in MATLAB's order."""
    if len(x_shape) != 3 or x_shape[1] != 4:
        raise GenomixError(f"{path}: sequences have shape {x_shape}, expected (N, 4, length)")
    if len(y_shape) != 2 or y_shape[0] != x_shape[0]:
        raise GenomixError(
            f"{path}: labels have shape {y_shape}, expected ({x_shape[0]}, profiles)"
        )
    if y_shape[1] != n_profiles:
        raise GenomixError(
            f"{path}: {y_shape[1]} labels per example, but {features_path} lists {n_profiles} "
            "profiles"
        )
    return int(x_shape[0])


def _labels(values: np.ndarray, path: Path, first_row: int) -> np.ndarray:
    """(n, P) 0/1 of any numeric type -> float32; GenomixError names the first other value."""
    bad = (values != 0) & (values != 1)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise GenomixError(
            f"{path}: example {first_row + row}, profile {column + 1}: label "
            f"{values[row, column].item()!r} (expected 0 or 1)"
        )
    return values.astype(np.float32)
