"""DeepSEA's 919-profile layout: the reader, its errors, a 919-output head, grouped summaries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO, TINY_MODEL

from genomix.cli import main
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data.deepsea import contiguous_split, read_deepsea_table
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.evaluate import evaluate_model, summarize_profiles
from genomix.finetune import finetune

DEEPSEA = DEMO / "deepsea919"
DEEPSEA_CSV = DEEPSEA / "test.dataset.csv.gz"
DEEPSEA_FEATURES = DEEPSEA / "features.tsv"

# 8,000 bp at k=6, stride 6: 1,333 tokens + [CLS] = 1,334; 1,344 = 42 blocks of 32.
DEEPSEA_MODEL = dataclasses.replace(TINY_MODEL, max_tokens=1344)
DEEPSEA_TOKENS = TokenizeConfig(k=6, stride=6)


@pytest.fixture(scope="module")
def deepsea_table() -> LabeledTable:
    return read_deepsea_table(DEEPSEA_CSV, DEEPSEA_FEATURES)


@pytest.fixture(scope="module")
def deepsea_model(tmp_path_factory: pytest.TempPathFactory, deepsea_table: LabeledTable) -> Path:
    """A 919-output head trained from scratch for one epoch on the 80 train rows."""
    out = tmp_path_factory.mktemp("models") / "deepsea"
    config = FinetuneConfig(epochs=1, batch_size=16, device="cpu")
    return finetune(
        deepsea_table,
        out,
        task="chromatin",
        config=config,
        model_config=DEEPSEA_MODEL,
        tokenize_config=DEEPSEA_TOKENS,
        progress=False,
    )


def test_reads_the_real_sample(deepsea_table: LabeledTable) -> None:
    table = deepsea_table
    assert len(table) == 100
    assert table.labels.shape == (100, 919) and table.labels.dtype == np.float32
    assert {len(sequence) for sequence in table.sequences} == {8000}
    assert set("".join(table.sequences)) == set("ACGT")
    assert int(table.labels.sum()) == 1571  # SOURCE.md: 1,571 positives in 91,900 cells
    assert int((table.labels.sum(axis=1) == 0).sum()) == 7
    groups = np.array(table.groups)
    assert [int((groups == g).sum()) for g in ("DNase", "TF", "HM")] == [125, 690, 104]
    # Groups by position: 1-125 DNase, 126-815 TF, 816-919 HM.
    assert table.groups == ("DNase",) * 125 + ("TF",) * 690 + ("HM",) * 104
    assert [int(table.labels[:, groups == g].sum()) for g in ("DNase", "TF", "HM")] == [
        715,
        473,
        383,
    ]
    assert len(set(table.profiles)) == 919  # DeepSEA's own names repeat 54 times
    assert table.profiles[0] == "001|8988T|DNase|None"
    assert table.profiles[576] == "577|NA|NA|NA"
    assert table.profiles[302:304] == ("303|HepG2|FOXA1|None", "304|HepG2|FOXA1|None")
    assert not any("\u00a0" in profile for profile in table.profiles)
    assert table.ids[:3] == ["0", "1", "2"]


def test_split_is_contiguous_blocks(deepsea_table: LabeledTable) -> None:
    assert deepsea_table.split.tolist() == ["train"] * 80 + ["valid"] * 10 + ["test"] * 10
    test = deepsea_table.subset("test")
    assert test.ids == [str(i) for i in range(90, 100)]
    assert test.groups == deepsea_table.groups
    assert contiguous_split(7, 0.2, 0.2).tolist() == ["train"] * 5 + ["valid", "test"]
    assert contiguous_split(10, 0.0, 0.3).tolist() == ["train"] * 7 + ["test"] * 3


def _write_sample(tmp_path: Path, rows: list[str], n_profiles: int = 3) -> tuple[Path, Path]:
    features = tmp_path / "features.tsv"
    lines = ["column\tcell_type\tassay\ttreatment\tgroup\tpositives_in_sample"]
    lines += [f"{i}\tK562\tCTCF\tNone\tTF\t0" for i in range(1, n_profiles + 1)]
    features.write_text("\n".join(lines) + "\n")
    data = tmp_path / "data.csv"
    data.write_text("".join(row + "\n" for row in rows))
    return data, features


def test_hand_made_plain_csv(tmp_path: Path) -> None:
    rows = [f"{'ACGT' * 3},{i % 2},0,1" for i in range(10)]
    data, features = _write_sample(tmp_path, rows)
    table = read_deepsea_table(data, features, valid_fraction=0.2, test_fraction=0.2)
    assert table.profiles == ("001|K562|CTCF|None", "002|K562|CTCF|None", "003|K562|CTCF|None")
    assert table.groups == ("TF", "TF", "TF")
    assert table.labels[:, 0].tolist() == [0.0, 1.0] * 5
    assert table.split.tolist() == ["train"] * 6 + ["valid"] * 2 + ["test"] * 2


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    data, features = _write_sample(tmp_path, ["ACGT,0,1,0", "ACGT,0,1"])
    with pytest.raises(GenomixError, match=r"data\.csv: line 2: 3 columns, expected 4"):
        read_deepsea_table(data, features)


def test_label_other_than_0_1(tmp_path: Path) -> None:
    data, features = _write_sample(tmp_path, ["ACGT,0,1,0", "ACGT,0,0.5,0"])
    with pytest.raises(
        GenomixError, match=r"data\.csv: line 2: CSV column 3 \(profile 002\|K562\|CTCF\|None\)"
    ):
        read_deepsea_table(data, features)


def test_invalid_base(tmp_path: Path) -> None:
    data, features = _write_sample(tmp_path, ["ACGT,0,1,0", "ACGZ,0,0,0"])
    with pytest.raises(GenomixError, match=r"data\.csv: line 2: invalid base 'Z' at position 4"):
        read_deepsea_table(data, features)


def test_features_file_errors(tmp_path: Path) -> None:
    data, features = _write_sample(tmp_path, ["ACGT,0,1,0"])
    features.write_text("column\tcell_type\tassay\ttreatment\n1\tK562\tCTCF\tNone\n")
    with pytest.raises(GenomixError, match=r"features\.tsv: missing column\(s\) group"):
        read_deepsea_table(data, features)
    features.write_text(
        "column\tcell_type\tassay\ttreatment\tgroup\n1\tA\tB\tC\tTF\n3\tA\tB\tC\tTF\n"
    )
    with pytest.raises(GenomixError, match=r"features\.tsv: line 3: column '3' \(expected 2"):
        read_deepsea_table(data, features)
    with pytest.raises(GenomixError, match=r"nope\.tsv: features file not found"):
        read_deepsea_table(data, tmp_path / "nope.tsv")


def test_fractions_must_leave_train_rows(tmp_path: Path) -> None:
    data, features = _write_sample(tmp_path, ["ACGT,0,1,0"])
    with pytest.raises(GenomixError, match="leaves no train rows"):
        read_deepsea_table(data, features, valid_fraction=0.5, test_fraction=0.5)


def test_groups_must_match_profiles() -> None:
    with pytest.raises(GenomixError, match="2 profile groups for 3 profiles"):
        LabeledTable(
            sequences=["ACGT"],
            labels=np.zeros((1, 3), dtype=np.float32),
            profiles=("a", "b", "c"),
            split=np.array(["train"], dtype=object),
            ids=["0"],
            groups=("X", "Y"),
        )


def test_grouped_summary_by_hand() -> None:
    nan = float("nan")
    frame = pd.DataFrame(
        {
            "profile": ["a", "b", "c", "d", "e"],
            "auroc": [0.6, 0.8, 0.9, 0.5, nan],
            "auprc": [0.2, 0.4, 0.3, 0.1, nan],
            "n_pos": [1, 3, 2, 4, 0],
            "n_neg": [9, 7, 8, 6, 10],
            "note": ["", "", "", "", "no positives in test split"],
        }
    )
    rows = {r["profile"]: r for r in summarize_profiles(frame, groups=("X", "Y", "X", "Y", "Y"))}
    assert list(rows) == ["mean", "median", "mean[X]", "median[X]", "mean[Y]", "median[Y]"]
    # all scored (a-d): AUROC 0.6, 0.8, 0.9, 0.5 -> mean 2.8 / 4 = 0.7, median (0.6 + 0.8) / 2.
    assert rows["mean"]["auroc"] == pytest.approx(0.7)
    assert rows["median"]["auroc"] == pytest.approx(0.7)
    assert rows["mean"]["note"] == "mean over 4 of 5 profiles"
    # X = a, c: AUROC 0.6, 0.9 -> 0.75; AUPRC 0.2, 0.3 -> 0.25; n_pos 1, 2 -> 1.5.
    assert rows["mean[X]"]["auroc"] == pytest.approx(0.75)
    assert rows["mean[X]"]["auprc"] == pytest.approx(0.25)
    assert rows["median[X]"]["n_pos"] == pytest.approx(1.5)
    assert rows["mean[X]"]["note"] == "mean over 2 of 2 X profiles"
    # Y = b, d scored (e has no positives): AUROC 0.8, 0.5 -> 0.65; n_neg 7, 6 -> 6.5.
    assert rows["mean[Y]"]["auroc"] == pytest.approx(0.65)
    assert rows["median[Y]"]["n_neg"] == pytest.approx(6.5)
    assert rows["median[Y]"]["note"] == "median over 2 of 3 Y profiles"
    # Without groups only the two overall rows, as before.
    assert [r["profile"] for r in summarize_profiles(frame)] == ["mean", "median"]


def test_919_output_head_evaluates_by_group(
    deepsea_model: Path, deepsea_table: LabeledTable
) -> None:
    metrics = evaluate_model(deepsea_model, deepsea_table, split="test", device="cpu")
    assert list(metrics.columns) == ["profile", "auroc", "auprc", "n_pos", "n_neg", "note"]
    assert len(metrics) == 919 + 2 + 3 * 2
    profiles = metrics.iloc[:919]
    assert profiles["profile"].tolist() == list(deepsea_table.profiles)
    test_labels = deepsea_table.subset("test").labels  # (10, 919)
    positives = test_labels.sum(axis=0)
    no_positives = profiles["note"] == "no positives in test split"
    assert no_positives.sum() == int((positives == 0).sum()) == 658  # most of 919
    scored = profiles["note"] == ""
    assert scored.sum() == int(((positives > 0) & (positives < 10)).sum())
    assert profiles.loc[scored, "auroc"].between(0, 1).all()
    summary = metrics.iloc[919:].set_index("profile")
    assert summary.index.tolist() == [
        "mean",
        "median",
        "mean[DNase]",
        "median[DNase]",
        "mean[TF]",
        "median[TF]",
        "mean[HM]",
        "median[HM]",
    ]
    groups = np.array(deepsea_table.groups)
    for group in ("DNase", "TF", "HM"):
        members = scored.to_numpy() & (groups == group)
        expected = profiles.loc[members, "auroc"]
        assert summary.loc[f"mean[{group}]", "auroc"] == pytest.approx(expected.mean())
        assert summary.loc[f"median[{group}]", "auroc"] == pytest.approx(expected.median())
        total = int((groups == group).sum())
        assert summary.loc[f"mean[{group}]", "note"] == (
            f"mean over {members.sum()} of {total} {group} profiles"
        )


def test_cli_evaluate_reads_the_deepsea_layout(
    deepsea_model: Path, deepsea_table: LabeledTable, tmp_path: Path
) -> None:
    out = tmp_path / "metrics.tsv"
    argv = ["evaluate", "--model", str(deepsea_model), "--table", str(DEEPSEA_CSV)]
    argv += ["--deepsea-features", str(DEEPSEA_FEATURES), "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    metrics = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert len(metrics) == 919 + 8
    assert metrics["profile"].iloc[576] == "577|NA|NA|NA"
    assert metrics["profile"].iloc[-1] == "median[HM]"


def test_cli_deepsea_needs_the_chromatin_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["finetune", "--task", "promoter", "--table", str(DEEPSEA_CSV)]
    argv += ["--deepsea-features", str(DEEPSEA_FEATURES), "--out", str(tmp_path / "m")]
    assert main(argv) == 1
    assert "DeepSEA tables are chromatin profiles, not task 'promoter'" in capsys.readouterr().err


def test_cli_deepsea_refuses_a_genome(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["finetune", "--task", "chromatin", "--table", str(DEEPSEA_CSV)]
    argv += ["--deepsea-features", str(DEEPSEA_FEATURES), "--genome", str(tmp_path / "g.fa")]
    assert main([*argv, "--out", str(tmp_path / "m")]) == 1
    assert "a DeepSEA-layout table carries its sequences" in capsys.readouterr().err
