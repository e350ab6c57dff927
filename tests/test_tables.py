"""Tests for genomix.data.tables: formats, coordinates, splits, labels and errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomix.data.tables import LabeledTable, read_labeled_table
from genomix.errors import GenomixError

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
CHR1 = "ACGTACGTTTGGCCAANNACGTAGCTAGCTAGGATCCA"


@pytest.fixture
def genome(tmp_path: Path) -> Path:
    path = tmp_path / "genome.fa"
    path.write_text(f">chr1 first\n{CHR1[:20]}\n{CHR1[20:]}\n>chr2\nGGGGCCCCAAAATTTT\n")
    return path


def write(path: Path, text: str, *, gz: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_promoter_demo_pairs_stay_together() -> None:
    table = read_labeled_table(DEMO / "epdnew_promoters_demo.tsv.gz", task="promoter", seed=3)
    assert len(table) == 6000 and table.profiles == ("promoter",)
    assert table.labels.shape == (6000, 1) and table.labels.dtype == np.float32
    assert table.labels.sum() == 3000
    assert all(len(s) == 300 and set(s) <= set("ACGTN") for s in table.sequences)
    assert table.ids == [str(i) for i in range(6000)]
    pair = pd.read_csv(DEMO / "epdnew_promoters_demo.tsv.gz", sep="\t")["pair_id"].to_numpy()
    for split in ("train", "valid", "test"):
        assert not set(pair[table.split == split]) & set(pair[table.split != split])
    counts = {s: int((table.split == s).sum()) for s in ("train", "valid", "test")}
    assert counts == {"train": 4800, "valid": 600, "test": 600}
    again = read_labeled_table(DEMO / "epdnew_promoters_demo.tsv.gz", task="promoter", seed=3)
    assert np.array_equal(again.split, table.split)


def test_csv_sniffed_gzip_and_normalised(tmp_path: Path) -> None:
    text = "name,sequence,CTCF,DNase\nr1,acgtRY,1,0\nr2,ACGTN,0.0,1.0\n"
    path = write(tmp_path / "table.dat", text, gz=True)  # no telling extension: sniff both
    table = read_labeled_table(path, task="chromatin")
    assert table.sequences == ["ACGTNN", "ACGTN"]
    assert table.profiles == ("CTCF", "DNase")
    assert table.labels.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert table.ids == ["r1", "r2"]


def test_coordinates_and_strand(tmp_path: Path, genome: Path) -> None:
    text = "chrom\tstart\tend\tstrand\tsplit\tA\nchr1\t0\t8\t+\ttrain\t1\nchr1\t8\t14\t-\ttest\t0\n"
    table = read_labeled_table(write(tmp_path / "t.tsv", text), task="chromatin", genome=genome)
    assert table.sequences == [
        "ACGTACGT",
        "TTGGCCAA"[:6].translate(str.maketrans("ACGT", "TGCA"))[::-1],
    ]
    assert table.ids == ["chr1:0-8", "chr1:8-14"]
    assert table.split.tolist() == ["train", "test"]
    assert len(table.subset("test")) == 1 and table.subset("test").labels.tolist() == [[0.0]]
    assert table.subset(np.array([False, True])).ids == ["chr1:8-14"]
    assert table.subset(np.array([1, 0])).ids == ["chr1:8-14", "chr1:0-8"]


def test_gzip_genome(tmp_path: Path, genome: Path) -> None:
    gz = tmp_path / "genome.fa.gz"
    gz.write_bytes(gzip.compress(genome.read_bytes()))
    text = "chrom,start,end,label\nchr2,4,8,1\n"
    table = read_labeled_table(write(tmp_path / "t.csv", text), task="promoter", genome=gz)
    assert table.sequences == ["CCCC"]


def test_row_split_fractions(tmp_path: Path) -> None:
    rows = "".join(f"ACGT\t{i % 2}\n" for i in range(200))
    table = read_labeled_table(
        write(tmp_path / "t.tsv", "sequence\tlabel\n" + rows), task="promoter"
    )
    assert [(table.split == s).sum() for s in ("train", "valid", "test")] == [160, 20, 20]
    assert isinstance(table, LabeledTable)


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, "t.tsv: empty table"),
        ("sequence\tlabel\n", {}, "t.tsv: empty table"),
        ("seq\tlabel\nACGT\t1\n", {}, "t.tsv: needs a 'sequence' column"),
        ("chrom\tstart\tend\tlabel\nchr1\t0\t4\t1\n", {}, "t.tsv: rows are chrom/start/end"),
        ("sequence\tlabel\nACGT\t1\nACGT\t2\n", {}, "t.tsv: line 3: column 'label' has value '2'"),
        ("sequence\tx\nACGT\t1\n", {}, "t.tsv: binary task needs a 'label' column"),
        (
            "sequence\tlabel\nACGT\t1\nACZT\t0\n",
            {},
            r"t.tsv: line 3: invalid base 'Z' at position 3",
        ),
        ("sequence\tlabel\nACGT\t1\n\t0\n", {}, "t.tsv: line 3: empty sequence"),
        ("sequence\tlabel\tsplit\nACGT\t1\tdev\n", {}, "t.tsv: line 2: split 'dev'"),
        ("sequence\tsplit\nACGT\ttrain\n", {"task": "chromatin"}, "needs at least one 0/1 profile"),
        # issue 12: pandas renamed the second 'CTCF' to 'CTCF.1', a profile of its own
        (
            "sequence\tCTCF\tCTCF\nACGT\t1\t0\n",
            {"task": "chromatin"},
            r"t.tsv: line 1: column 'CTCF' is given twice \(columns 2 and 3\)",
        ),
    ],
)
def test_errors(tmp_path: Path, text: str, kwargs: dict[str, str], message: str) -> None:
    path = write(tmp_path / "t.tsv", text)
    with pytest.raises(GenomixError, match=message):
        read_labeled_table(path, **{"task": "promoter", **kwargs})


def test_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "sequence,label\nACGT,1\nACGT,0,7\n")
    with pytest.raises(GenomixError, match=r"t.csv: cannot parse as CSV \(.*line 3"):
        read_labeled_table(path, task="promoter")


def test_genome_errors(tmp_path: Path, genome: Path) -> None:
    path = write(tmp_path / "t.tsv", "chrom\tstart\tend\tlabel\nchr1\t0\t4\t1\nchrZ\t0\t4\t0\n")
    with pytest.raises(GenomixError, match="t.tsv: line 3: chromosome 'chrZ' not in"):
        read_labeled_table(path, task="promoter", genome=genome)
    path = write(tmp_path / "t.tsv", "chrom\tstart\tend\tlabel\nchr2\t10\t40\t1\n")
    with pytest.raises(GenomixError, match="t.tsv: line 2: chr2:10-40 is outside the record"):
        read_labeled_table(path, task="promoter", genome=genome)
    with pytest.raises(GenomixError, match="nope.fa: genome FASTA not found"):
        read_labeled_table(path, task="promoter", genome=tmp_path / "nope.fa")
    with pytest.raises(GenomixError, match="missing.tsv: file not found"):
        read_labeled_table(tmp_path / "missing.tsv", task="promoter")
