"""Read DeepSEA's 919-profile layout (as GENA-LM ships it) into a LabeledTable.

The data file is a CSV without a header, gzip or plain: one row per example, column 1 the
sequence, then one 0/1 label per profile, in the order of the features file. The features file
is a TSV with a header and one row per profile: ``column`` (1-based profile index = CSV column -
1), ``cell_type``, ``assay``, ``treatment``, ``group`` (DNase / TF / HM). DeepSEA's own names
(``cell|assay|treatment``) are not unique (54 occur twice or more, one is ``NA|NA|NA``), so each
profile is named ``f"{column:03d}|{cell_type}|{assay}|{treatment}"``.

A directory instead of one file is a bundle of DeepSEA's own train / valid / test files
(``deepsea_bundle.py``: the original .mat files or per-split CSVs); the split is then DeepSEA's.

One file is split by contiguous blocks of rows: the first rows are train, then valid, then test.
The rows of such files are runs of neighbouring 200-bp bins whose windows overlap, so a random
row split would leak; contiguous blocks leak only at the two block edges. This split is for
smoke tests on small samples only: DeepSEA's real evaluation holds out chromosomes (chr8 and
chr9), as its own files do.
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from genomix.data.deepsea_bundle import read_deepsea_bundle
from genomix.data.tables import LabeledTable, canonical_sequences
from genomix.errors import GenomixError
from genomix.seqio.compression import sniff_file

logger = logging.getLogger(__name__)

FEATURE_COLUMNS = ("column", "cell_type", "assay", "treatment", "group")


def read_deepsea_table(
    csv_path: str | Path,
    features_path: str | Path,
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> LabeledTable:
    """Read a DeepSEA-layout CSV, or a bundle directory, and its features TSV (module docstring).

    Args:
        csv_path: headerless CSV (gzip or plain): sequence, then P labels 0/1; or a directory
            with DeepSEA's train / valid / test files (``deepsea_bundle``), which then give the
            split (the fractions are not used).
        features_path: TSV with one row per profile, in label order.
        valid_fraction: share of rows (rounded) in the valid block, after the train block.
        test_fraction: share of rows (rounded) in the test block, the last rows.

    Returns:
        LabeledTable with N rows, P profiles, groups (P,) from the features file, and ids the
        0-based row indices (``"{split}:{row}"`` for a bundle).
    """
    csv_path, features_path = Path(csv_path), Path(features_path)
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1):
        raise GenomixError(
            f"valid_fraction={valid_fraction} and test_fraction={test_fraction} must be in [0, 1)"
        )
    if valid_fraction + test_fraction >= 1:
        raise GenomixError(
            f"valid_fraction + test_fraction = {valid_fraction + test_fraction:g} leaves no "
            "train rows; keep their sum below 1"
        )
    profiles, groups = _read_features(features_path)
    if csv_path.is_dir():
        return read_deepsea_bundle(csv_path, profiles, groups, features_path)
    sequences, labels = read_deepsea_rows(csv_path, profiles, features_path)
    sequences = canonical_sequences(sequences, csv_path, first_line=1)
    split = contiguous_split(len(sequences), valid_fraction, test_fraction)
    logger.info(
        "%s: %d rows, %d profiles, %d/%d/%d train/valid/test rows (contiguous blocks)",
        csv_path,
        len(sequences),
        len(profiles),
        *(int((split == name).sum()) for name in ("train", "valid", "test")),
    )
    return LabeledTable(
        sequences=sequences,
        labels=labels,
        profiles=profiles,
        split=split,
        ids=[str(i) for i in range(len(sequences))],
        groups=groups,
    )


def contiguous_split(n: int, valid_fraction: float, test_fraction: float) -> np.ndarray:
    """(n,) object array: the first rows 'train', then round(valid_fraction * n) 'valid', then
    round(test_fraction * n) 'test' (the last rows)."""
    n_valid = round(valid_fraction * n)
    n_test = round(test_fraction * n)
    n_train = n - n_valid - n_test
    return np.array(["train"] * n_train + ["valid"] * n_valid + ["test"] * n_test, dtype=object)


def _read_features(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Unique profile names and their groups, both (P,), from the features TSV."""
    if not path.is_file():
        raise GenomixError(f"{path}: features file not found")
    try:
        # keep_default_na=False: profile 577 is literally cell 'NA', assay 'NA', treatment 'NA'.
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise GenomixError(f"{path}: empty features file (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise GenomixError(f"{path}: cannot parse as TSV ({reason})") from None
    missing = [c for c in FEATURE_COLUMNS if c not in frame.columns]
    if missing:
        raise GenomixError(
            f"{path}: missing column(s) {', '.join(missing)} (expected a TSV with columns "
            f"{', '.join(FEATURE_COLUMNS)})"
        )
    if frame.empty:
        raise GenomixError(f"{path}: no profiles (header but no rows)")
    # str.strip also drops U+00A0, which DeepSEA's names carry after one cell type.
    frame = frame.apply(lambda column: column.str.strip())
    expected = [str(i) for i in range(1, len(frame) + 1)]
    wrong = np.flatnonzero(frame["column"].to_numpy() != np.array(expected))
    if wrong.size:
        row = int(wrong[0])
        raise GenomixError(
            f"{path}: line {row + 2}: column {frame['column'].iloc[row]!r} (expected {row + 1}: "
            "one row per profile, numbered 1, 2, ... in label order)"
        )
    empty = np.flatnonzero(frame["group"].to_numpy() == "")
    if empty.size:
        raise GenomixError(f"{path}: line {int(empty[0]) + 2}: empty group")
    profiles = tuple(
        f"{int(column):03d}|{cell}|{assay}|{treatment}"
        for column, cell, assay, treatment in zip(
            frame["column"], frame["cell_type"], frame["assay"], frame["treatment"], strict=True
        )
    )
    return profiles, tuple(frame["group"])


def read_deepsea_rows(
    path: Path, profiles: tuple[str, ...], features_path: Path
) -> tuple[list[str], np.ndarray]:
    """Sequences (N,) and labels (N, P) float32 0/1 from the headerless CSV."""
    if not path.is_file():
        raise GenomixError(f"{path}: file not found")
    opener = open if sniff_file(path) == "plain" else gzip.open
    expected = 1 + len(profiles)
    sequences: list[str] = []
    label_text: list[list[str]] = []
    try:
        with opener(path, "rt", newline="") as fh:
            for line, fields in enumerate(csv.reader(fh), start=1):
                if len(fields) != expected:
                    raise GenomixError(
                        f"{path}: line {line}: {len(fields)} columns, expected {expected} "
                        f"(a sequence, then {len(profiles)} labels, one per profile in "
                        f"{features_path})"
                    )
                sequences.append(fields[0].strip())
                label_text.append(fields[1:])
    except (UnicodeDecodeError, gzip.BadGzipFile, csv.Error) as err:
        raise GenomixError(f"{path}: cannot read as CSV ({err})") from None
    if not sequences:
        raise GenomixError(f"{path}: no rows")
    text = np.array(label_text, dtype=str)  # (N, P)
    ones = text == "1"
    bad = ~(ones | (text == "0"))
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise GenomixError(
            f"{path}: line {row + 1}: CSV column {col + 2} (profile {profiles[col]}) has value "
            f"{text[row, col]!r} (expected 0 or 1)"
        )
    return sequences, ones.astype(np.float32)
