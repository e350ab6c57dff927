"""The task registry: lookup, legacy names, each kind's labels, row enrichment, calls, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genomix.config import load_schema
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.evaluate import HeldOutScores, metrics_table
from genomix.finetune import training_rows
from genomix.tasks import (
    LEGACY_NAMES,
    TASKS,
    BinaryTask,
    MultilabelTask,
    get_task,
    register_task,
)

PATH = Path("t.tsv")


def test_registry_holds_one_object_per_kind() -> None:
    assert sorted(TASKS) == ["binary", "multilabel"]
    assert isinstance(get_task("binary"), BinaryTask)
    assert isinstance(get_task("multilabel"), MultilabelTask)
    assert get_task("binary") is get_task("binary")


def test_the_schema_lists_the_registered_kinds() -> None:
    """A head's `task` enum and the schema's per-kind branches are the registry's names."""
    defs = load_schema()["$defs"]
    assert defs["head"]["properties"]["task"]["enum"] == list(TASKS)
    for kind in TASKS:
        assert defs[kind]["properties"]["task"]["const"] == kind


def test_legacy_head_names_map_to_their_kind() -> None:
    assert LEGACY_NAMES == {"promoter": "binary", "chromatin": "multilabel"}
    assert get_task("promoter") is TASKS["binary"]
    assert get_task("chromatin") is TASKS["multilabel"]


def test_unknown_task_names_the_kinds() -> None:
    with pytest.raises(GenomixError, match=r"unknown task 'enhancer' \(expected one of binary, "):
        get_task("enhancer")


def test_a_kind_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_task(BinaryTask)


def test_binary_labels_are_the_label_column() -> None:
    names = ["sequence", "label", "split", "extra"]
    assert get_task("binary").label_columns(names, PATH) == (["label"], ("promoter",))
    with pytest.raises(GenomixError, match="t.tsv: binary task needs a 'label' column"):
        get_task("binary").label_columns(["sequence", "split"], PATH)


def test_multilabel_labels_are_every_non_metadata_column() -> None:
    names = ["chrom", "start", "end", "CTCF", "split", "DNase", "pair_id"]
    assert get_task("multilabel").label_columns(names, PATH) == (
        ["CTCF", "DNase"],
        ("CTCF", "DNase"),
    )
    with pytest.raises(GenomixError, match="at least one 0/1 profile column"):
        get_task("multilabel").label_columns(["chrom", "start", "end", "split"], PATH)


def test_metrics_and_calls_of_each_kind() -> None:
    assert get_task("binary").makes_calls and not get_task("multilabel").makes_calls
    assert get_task("binary").metrics == ("auroc", "auprc", "f1", "mcc", "accuracy")
    assert get_task("multilabel").metrics == ("auroc", "auprc")


def _table(labels: list[list[int]]) -> LabeledTable:
    n = len(labels)
    return LabeledTable(
        sequences=["ACGT"] * n,
        labels=np.array(labels, dtype=np.float32),
        profiles=tuple(f"p{j}" for j in range(len(labels[0]))),
        split=np.array(["train"] * (n - 1) + ["valid"], dtype=object),
        ids=[f"r{i}" for i in range(n)],
    )


def test_only_multilabel_enriches_a_capped_sample_for_positives() -> None:
    # 8 train rows, one with a positive (row 6): a cap of 2 keeps it for multilabel only
    # whenever the seeded permutation would not draw it anyway.
    table = _table([[0]] * 6 + [[1]] + [[0]] * 2)
    kept = {
        kind: [
            training_rows(
                table, task=kind, max_train_rows=2, max_eval_rows=0,
                generator=torch.Generator().manual_seed(seed),
            )[0].labels.sum()
            for seed in range(8)
        ]
        for kind in TASKS
    }  # fmt: skip
    assert kept["multilabel"] == [1.0] * 8
    assert 0.0 in kept["binary"]


def test_calls_follow_the_kind_in_the_metrics_table() -> None:
    # 4 rows by hand: scores 0.9, 0.8, 0.3, 0.1 for labels 1, 0, 1, 0 -> AUROC 3/4; at threshold
    # 0.5 the calls are 1, 1, 0, 0: TP 1, FP 1, FN 1, TN 1 -> F1 0.5, accuracy 0.5, MCC 0.
    labels = np.array([[1.0], [0.0], [1.0], [0.0]])
    probabilities = {"transformer": np.array([[0.9], [0.8], [0.3], [0.1]])}
    rows = LabeledTable(["ACGT"] * 4, labels, ("promoter",), np.full(4, "test", dtype=object),
                        ["a", "b", "c", "d"])  # fmt: skip
    tables = {}
    for kind, task in TASKS.items():
        thresholds = {"transformer": [0.5]} if task.makes_calls else None
        tables[kind] = metrics_table(HeldOutScores(rows, "test", probabilities, thresholds))
        assert tables[kind]["auroc"].iloc[0] == pytest.approx(0.75)
        assert all(metric in tables[kind] for metric in task.metrics)
        assert ("f1" in tables[kind]) == task.makes_calls
    row = tables["binary"].iloc[0]
    assert (row["f1"], row["accuracy"], row["mcc"]) == pytest.approx((0.5, 0.5, 0.0))


def test_each_kind_names_its_verdict_row_and_report_section(tmp_path: Path) -> None:
    binary = pd.DataFrame({"profile": ["promoter"], "auroc": [0.5], "auprc": [0.5],
                           "n_pos": [1], "n_neg": [1], "note": [""]})  # fmt: skip
    assert get_task("binary").verdict_row("tata", binary) == ("promoter", "tata")
    section = get_task("binary").report_section("tata", binary, tmp_path / "r.md")
    assert section[0] == "## tata (test split)" and "close to chance" in section[2]
    multilabel = pd.DataFrame({"profile": ["a", "b", "mean"], "auroc": [0.9, 0.7, 0.8],
                               "auprc": [0.5, 0.4, 0.45], "n_pos": [1, 1, 2],
                               "n_neg": [3, 3, 6], "note": ["", "", "2 profiles"]})  # fmt: skip
    assert get_task("multilabel").verdict_row("dnase", multilabel) == (
        "mean",
        "dnase (mean over profiles)",
    )
    section = get_task("multilabel").report_section("dnase", multilabel, tmp_path / "r.md")
    assert section[1].startswith("Mean AUROC 0.800, mean AUPRC 0.450 (2 profiles).")
    assert (tmp_path / "r_dnase_auroc.png").stat().st_size > 1000
    predictions = pd.DataFrame({"profile": ["a", "a", "b", "b"], "label": [1, 0, 1, 0],
                                "transformer": [0.9, 0.1, 0.4, 0.6]})  # fmt: skip
    titles = [t for t, _ in get_task("multilabel").curve_panels("dnase", multilabel, predictions)]
    assert titles == ["dnase best: a", "dnase worst: b"]
