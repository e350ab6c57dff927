"""DeepSEA's own train / valid / test files, in the bundle's formats: train.mat is MATLAB v7.3
(HDF5, column-major: (1000, 4, N) and (919, N) as h5py sees them), valid.mat / test.mat MATLAB v5
((N, 4, 1000) and (N, 919)), one-hot channels A, G, C, T; or GENA-LM's per-split CSVs."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_MODEL

from genomix.cli import main
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data import deepsea_bundle
from genomix.data.deepsea import read_deepsea_table
from genomix.errors import GenomixError
from genomix.finetune import finetune

h5py = pytest.importorskip("h5py")
scipy_io = pytest.importorskip("scipy.io")

CHANNELS = "AGCT"  # DeepSEA's one-hot order


def one_hot(sequences: list[str]) -> np.ndarray:
    """(N, 4, L) uint8 in DeepSEA's channel order; N is all zeros."""
    out = np.zeros((len(sequences), 4, len(sequences[0])), dtype=np.uint8)
    for row, sequence in enumerate(sequences):
        for position, base in enumerate(sequence):
            if base != "N":
                out[row, CHANNELS.index(base), position] = 1
    return out


def write_features(path: Path, groups: tuple[str, ...] = ("DNase", "TF", "HM")) -> Path:
    lines = ["column\tcell_type\tassay\ttreatment\tgroup"]
    lines += [f"{i}\tK562\tX{i}\tNone\t{group}" for i, group in enumerate(groups, start=1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_train_mat(path: Path, sequences: list[str], labels: np.ndarray) -> None:
    """MATLAB v7.3 layout as h5py reads it: column-major, so every axis reversed."""
    with h5py.File(path, "w") as mat:
        mat["trainxdata"] = one_hot(sequences).transpose(2, 1, 0)  # (L, 4, N)
        mat["traindata"] = labels.astype(np.uint8).T  # (P, N)


def write_v5_mat(path: Path, split: str, sequences: list[str], labels: np.ndarray) -> None:
    scipy_io.savemat(
        path, {f"{split}xdata": one_hot(sequences), f"{split}data": labels.astype(np.uint8)}
    )


TRAIN = ["ACGTACGTNA", "GGGGCCCCAT", "TTTTAAAACC", "ACACACACGT", "NNNNACGTAC"]
VALID = ["CCCCGGGGTA", "AAAAAAAAAA"]
TEST = ["GATTACAGAT", "CATCATCATN", "TGCATGCATG"]
LABELS = {
    "train": np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]]),
    "valid": np.array([[1, 0, 1], [0, 1, 0]]),
    "test": np.array([[0, 0, 1], [1, 1, 0], [0, 1, 1]]),
}


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, Path]:
    """A bundle directory in DeepSEA's own formats and a 3-profile features file."""
    directory = tmp_path / "deepsea_train"
    directory.mkdir()
    write_train_mat(directory / "train.mat", TRAIN, LABELS["train"])
    write_v5_mat(directory / "valid.mat", "valid", VALID, LABELS["valid"])
    write_v5_mat(directory / "test.mat", "test", TEST, LABELS["test"])
    return directory, write_features(tmp_path / "features.tsv")


def test_one_hot_order_is_agct_and_zero_is_n(tmp_path: Path) -> None:
    columns = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    decoded = deepsea_bundle.decode_one_hot(columns.T[None], tmp_path / "x.mat")
    assert decoded == ["AGCTN"]


def test_reads_the_bundle_split_by_file(bundle: tuple[Path, Path]) -> None:
    directory, features = bundle
    table = read_deepsea_table(directory, features)
    assert table.sequences == TRAIN + VALID + TEST
    assert table.split.tolist() == ["train"] * 5 + ["valid"] * 2 + ["test"] * 3
    expected = np.concatenate([LABELS["train"], LABELS["valid"], LABELS["test"]])
    np.testing.assert_array_equal(table.labels, expected)
    assert table.labels.dtype == np.float32
    assert table.ids[:2] == ["train:0", "train:1"] and table.ids[-1] == "test:2"
    assert table.groups == ("DNase", "TF", "HM")
    assert table.subset("test").sequences == TEST


def test_hdf5_rows_are_read_in_chunks(
    bundle: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, features = bundle
    monkeypatch.setattr(deepsea_bundle, "CHUNK_ROWS", 2)  # 5 train rows: chunks of 2, 2, 1
    table = read_deepsea_table(directory, features)
    assert table.subset("train").sequences == TRAIN
    np.testing.assert_array_equal(table.subset("train").labels, LABELS["train"])


def test_gena_lm_per_split_csvs(tmp_path: Path) -> None:
    directory = tmp_path / "csv"
    directory.mkdir()
    for split, sequences, name in (
        ("train", TRAIN, "train.csv.gz"),
        ("valid", VALID, "valid.csv"),
        ("test", TEST, "test.dataset.csv.gz"),
    ):
        lines = [
            ",".join([s, *map(str, row)]) + "\n"
            for s, row in zip(sequences, LABELS[split], strict=True)
        ]
        opener = gzip.open if name.endswith(".gz") else open
        with opener(directory / name, "wt") as handle:
            handle.writelines(lines)
    table = read_deepsea_table(directory, write_features(tmp_path / "features.tsv"))
    assert table.sequences == TRAIN + VALID + TEST
    assert table.split.tolist() == ["train"] * 5 + ["valid"] * 2 + ["test"] * 3
    np.testing.assert_array_equal(table.subset("valid").labels, LABELS["valid"])


def test_a_missing_split_file_is_named(bundle: tuple[Path, Path]) -> None:
    directory, features = bundle
    (directory / "test.mat").unlink()
    with pytest.raises(GenomixError, match=r"deepsea_train: no test file \(expected one of test"):
        read_deepsea_table(directory, features)


def test_wrong_variable_names(bundle: tuple[Path, Path]) -> None:
    directory, features = bundle
    write_v5_mat(directory / "valid.mat", "test", VALID, LABELS["valid"])
    with pytest.raises(GenomixError, match=r"valid\.mat: no variable validxdata, validdata"):
        read_deepsea_table(directory, features)


def test_profile_count_must_match_the_features(bundle: tuple[Path, Path], tmp_path: Path) -> None:
    directory, _ = bundle
    features = write_features(tmp_path / "two.tsv", ("DNase", "TF"))
    with pytest.raises(GenomixError, match=r"train\.mat: 3 labels per example, but .*two\.tsv"):
        read_deepsea_table(directory, features)


def test_not_one_hot(bundle: tuple[Path, Path]) -> None:
    directory, features = bundle
    x = one_hot(VALID)
    x[1, :, 4] = 1  # example 1, position 5: every channel hot
    scipy_io.savemat(directory / "valid.mat", {"validxdata": x, "validdata": LABELS["valid"]})
    with pytest.raises(GenomixError, match=r"valid\.mat: example 1, position 5: not one-hot"):
        read_deepsea_table(directory, features)


def test_labels_other_than_0_1(bundle: tuple[Path, Path]) -> None:
    directory, features = bundle
    labels = LABELS["train"].copy()
    labels[3, 2] = 2
    write_train_mat(directory / "train.mat", TRAIN, labels)
    with pytest.raises(GenomixError, match=r"train\.mat: example 3, profile 3: label 2"):
        read_deepsea_table(directory, features)


def test_not_a_matlab_file(bundle: tuple[Path, Path]) -> None:
    directory, features = bundle
    (directory / "test.mat").write_text("sequence,label\n")
    with pytest.raises(GenomixError, match=r"test\.mat: not a MATLAB file"):
        read_deepsea_table(directory, features)


def test_cli_evaluates_on_deepseas_test_file(bundle: tuple[Path, Path], tmp_path: Path) -> None:
    directory, features = bundle
    table = read_deepsea_table(directory, features)
    model = finetune(
        table,
        tmp_path / "model",
        task="chromatin",
        config=FinetuneConfig(epochs=1, batch_size=4, device="cpu"),
        model_config=TINY_MODEL,
        tokenize_config=TokenizeConfig(k=3, stride=1),
        progress=False,
    )
    out = tmp_path / "metrics.tsv"
    argv = ["evaluate", "--model", str(model), "--table", str(directory)]
    argv += ["--deepsea-features", str(features), "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    metrics = pd.read_csv(out, sep="\t").set_index("profile")
    # Exactly the rows of test.mat: per profile, its positives and negatives there.
    positives = LABELS["test"].sum(axis=0)
    for j, profile in enumerate(table.profiles):
        assert metrics.loc[profile, "n_pos"] == positives[j]
        assert metrics.loc[profile, "n_neg"] == len(TEST) - positives[j]


def test_without_h5py_the_error_names_the_extra(
    bundle: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, features = bundle
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py -> ImportError
    with pytest.raises(GenomixError, match=r"train\.mat: .*h5py is missing; pip install 'genomix"):
        read_deepsea_table(directory, features)
