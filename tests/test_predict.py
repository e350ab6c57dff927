"""genomix predict: windows, aggregation, invariances, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import HUMAN

from genomix.checkpoint import load_classifier
from genomix.cli import main
from genomix.errors import GenomixError
from genomix.predict import predict_fasta, window_starts
from genomix.scoring import score_sequences
from genomix.seqio.fasta import read_fasta
from genomix.seqio.outputs import open_table


def test_window_starts_by_hand() -> None:
    assert window_starts(100, 300, 150) == [0]
    assert window_starts(300, 300, 150) == [0]
    assert window_starts(700, 300, 150) == [0, 150, 300, 400]


def _fasta(tmp_path: Path, records: dict[str, str]) -> Path:
    path = tmp_path / "input.fa"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path


def test_short_record_is_one_window(promoter_model: Path, promoter_table, tmp_path: Path) -> None:
    sequence = promoter_table.sequences[0]
    out = tmp_path / "out.tsv"
    predict_fasta(promoter_model, _fasta(tmp_path, {"p0": sequence[:200]}), out, device="cpu")
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["id", "length", "start", "end", "n_fraction", "promoter"]
    assert table.iloc[0][["id", "length", "start", "end", "n_fraction"]].tolist() == [
        "p0",
        200,
        0,
        200,
        0.0,
    ]
    model, tokenizer, _ = load_classifier(promoter_model)
    expected = score_sequences(model, tokenizer, [sequence[:200]], batch_size=1, device="cpu")
    assert table["promoter"].iloc[0] == pytest.approx(expected[0, 0], abs=1e-6)


def test_windows_aggregate_to_the_max(promoter_model: Path, promoter_table, tmp_path: Path) -> None:
    sequence = "".join(promoter_table.sequences[:3])  # 900 bp -> windows at 0, 150, ..., 600
    fasta = _fasta(tmp_path, {"long": sequence})
    predict_fasta(promoter_model, fasta, tmp_path / "w.tsv", per_window=True, device="cpu")
    predict_fasta(promoter_model, fasta, tmp_path / "r.tsv", device="cpu")
    windows = pd.read_csv(tmp_path / "w.tsv", sep="\t")
    record = pd.read_csv(tmp_path / "r.tsv", sep="\t")
    assert windows["start"].tolist() == [0, 150, 300, 450, 600]
    assert (windows["end"] - windows["start"]).eq(300).all()
    assert record["promoter"].iloc[0] == pytest.approx(windows["promoter"].max(), abs=1e-6)
    model, tokenizer, _ = load_classifier(promoter_model)
    direct = score_sequences(model, tokenizer, [sequence[300:600]], batch_size=1, device="cpu")
    assert windows["promoter"].iloc[2] == pytest.approx(direct[0, 0], abs=1e-6)


def test_batch_size_does_not_change_output(promoter_model: Path, tmp_path: Path) -> None:
    human = next(read_fasta(HUMAN)).sequence
    fasta = _fasta(tmp_path, {"chr20_a": human[100_000:103_000], "chr20_b": human[500_000:500_950]})
    outputs = []
    for batch_size in (1, 8):
        out = tmp_path / f"b{batch_size}.tsv"
        predict_fasta(
            promoter_model,
            fasta,
            out,
            batch_size=batch_size,
            stride=200,
            per_window=True,
            device="cpu",
        )
        outputs.append(pd.read_csv(out, sep="\t"))
    # 3,000 bp: windows at 0, 200, ..., 2,600 and 2,700; 950 bp: 0, 200, 400, 600 and 650.
    assert len(outputs[0]) == 15 + 5
    np.testing.assert_allclose(outputs[0]["promoter"], outputs[1]["promoter"], atol=1e-6)


def test_invalid_record_stops_or_is_skipped(promoter_model: Path, tmp_path: Path) -> None:
    fasta = _fasta(tmp_path, {"good": "ACGT" * 50, "bad": "ACGTZZ" * 10, "also_good": "GATC" * 60})
    with pytest.raises(
        GenomixError, match="input.fa: record 'bad' position 5: invalid character 'Z'"
    ):
        predict_fasta(promoter_model, fasta, tmp_path / "out.tsv", device="cpu")
    assert not (tmp_path / "out.tsv").exists()
    skipped: list[str] = []
    predict_fasta(
        promoter_model,
        fasta,
        tmp_path / "out.tsv",
        device="cpu",
        skip_invalid=True,
        on_skip=skipped.append,
    )
    assert pd.read_csv(tmp_path / "out.tsv", sep="\t")["id"].tolist() == ["good", "also_good"]
    assert len(skipped) == 1 and "bad" in skipped[0]


def test_score_does_not_depend_on_batch_neighbours(promoter_model: Path, tmp_path: Path) -> None:
    fasta = _fasta(tmp_path, {"short": "ACGTTGCA" * 20, "long": "GATTACA" * 60})
    (tmp_path / "alone").mkdir()
    alone = _fasta(tmp_path / "alone", {"short": "ACGTTGCA" * 20})
    predict_fasta(promoter_model, fasta, tmp_path / "both.tsv", batch_size=8, device="cpu")
    predict_fasta(promoter_model, alone, tmp_path / "alone.tsv", batch_size=8, device="cpu")
    both = pd.read_csv(tmp_path / "both.tsv", sep="\t").set_index("id")
    single = pd.read_csv(tmp_path / "alone.tsv", sep="\t").set_index("id")
    assert both.loc["short", "promoter"] == single.loc["short", "promoter"]


def test_short_records_and_bad_options(promoter_model: Path, tmp_path: Path) -> None:
    fasta = _fasta(tmp_path, {"tiny": "AC", "fine": "ACGT" * 40})
    with pytest.raises(GenomixError, match="record 'tiny' is 2 bp, shorter than one 3-mer"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", device="cpu")
    skipped: list[str] = []
    predict_fasta(
        promoter_model,
        fasta,
        tmp_path / "o.tsv",
        device="cpu",
        skip_invalid=True,
        on_skip=skipped.append,
    )
    assert pd.read_csv(tmp_path / "o.tsv", sep="\t")["id"].tolist() == ["fine"]
    assert "tiny" in skipped[0]
    with pytest.raises(GenomixError, match="stride must be 1 to 300 bases"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", stride=301, device="cpu")
    with pytest.raises(GenomixError, match="stride must be 1 to 300 bases"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", stride=0, device="cpu")
    with pytest.raises(GenomixError, match="batch size must be at least 1"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", batch_size=0, device="cpu")


def _revcomp(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_bed_regions_are_strand_aware_and_named(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    human = next(read_fasta(HUMAN)).sequence
    bed = tmp_path / "regions.bed"
    bed.write_text(
        'track name="regions"\n'
        "z\t1000\t1300\tplus\t0\t+\n"
        "z\t1000\t1300\t.\t0\t-\n"
        "chrz\t5000\t5250\n"  # 'chr' prefix removed to match the genome's 'z'
    )
    out = tmp_path / "bed.tsv"
    assert predict_fasta(promoter_model, human_genome, out, bed=bed, device="cpu") == 3
    table = pd.read_csv(out, sep="\t")
    # Genome coordinates, forward strand, whatever the name and strand of the region.
    assert table[["id", "chrom", "start", "end", "strand", "length"]].values.tolist() == [
        ["plus", "z", 1000, 1300, "+", 300],
        ["z:1000-1300", "z", 1000, 1300, "-", 300],
        ["chrz:5000-5250", "chrz", 5000, 5250, ".", 250],
    ]
    model, tokenizer, _ = load_classifier(promoter_model)
    sequences = [human[1000:1300], _revcomp(human[1000:1300]), human[5000:5250]]
    expected = [
        score_sequences(model, tokenizer, [s], batch_size=1, device="cpu")[0, 0] for s in sequences
    ]
    np.testing.assert_allclose(table["promoter"], expected, atol=1e-6)


def test_bed_windows_are_placed_on_the_genome(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    bed = tmp_path / "regions.bed"
    bed.write_text("z\t1000\t1500\tplus\t0\t+\nz\t1000\t1500\tminus\t0\t-\n")
    out = tmp_path / "w.tsv"
    predict_fasta(promoter_model, human_genome, out, bed=bed, per_window=True, device="cpu")
    table = pd.read_csv(out, sep="\t")
    # 500 bp, windows of 300 every 150 bp: record starts 0, 150, 200. On the minus strand a
    # window at record bases [s, s + 300) lies on the genome at [1500 - s - 300, 1500 - s).
    assert table[["id", "start", "end"]].values.tolist() == [
        ["plus", 1000, 1300],
        ["plus", 1150, 1450],
        ["plus", 1200, 1500],
        ["minus", 1200, 1500],
        ["minus", 1050, 1350],
        ["minus", 1000, 1300],
    ]


def test_bed_missing_chromosome_names_file_and_line(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    bed = tmp_path / "regions.bed"
    bed.write_text("# comment\nz\t0\t300\tfirst\nchr7\t0\t300\tlost\nz\t300\t600\tlast\n")
    with pytest.raises(GenomixError, match="regions.bed: line 3: chromosome 'chr7' is not in"):
        predict_fasta(promoter_model, human_genome, tmp_path / "o.tsv", bed=bed, device="cpu")
    assert not (tmp_path / "o.tsv").exists()
    skipped: list[str] = []
    predict_fasta(
        promoter_model,
        human_genome,
        tmp_path / "o.tsv",
        bed=bed,
        device="cpu",
        skip_invalid=True,
        on_skip=skipped.append,
    )
    assert pd.read_csv(tmp_path / "o.tsv", sep="\t")["id"].tolist() == ["first", "last"]
    assert len(skipped) == 1 and "line 3" in skipped[0]
    bed.write_text("z\t999900\t1000100\n")
    with pytest.raises(GenomixError, match="regions.bed: line 1: z:999900-1000100 runs past"):
        predict_fasta(promoter_model, human_genome, tmp_path / "o.tsv", bed=bed, device="cpu")


def test_parquet_holds_the_tsv_rows(promoter_model: Path, tmp_path: Path) -> None:
    human = next(read_fasta(HUMAN)).sequence
    fasta = _fasta(tmp_path, {"a": human[2000:2700], "b": human[9000:9300]})
    outputs = {}
    for name, fmt in (("o.tsv", None), ("o.parquet", None), ("o.bin", "parquet")):
        predict_fasta(
            promoter_model, fasta, tmp_path / name, per_window=True, device="cpu", output_format=fmt
        )
    outputs = [pd.read_csv(tmp_path / "o.tsv", sep="\t")]
    outputs += [pd.read_parquet(tmp_path / name) for name in ("o.parquet", "o.bin")]
    for table in outputs[1:]:
        assert table["promoter"].dtype == np.float32 and table["start"].dtype == np.int64
        pd.testing.assert_frame_equal(table.iloc[:, :4], outputs[0].iloc[:, :4])
        np.testing.assert_allclose(table["promoter"], outputs[0]["promoter"], atol=6e-7)
    pd.testing.assert_frame_equal(outputs[1], outputs[2])
    with pytest.raises(GenomixError, match="output format 'csv' is not one of tsv, parquet"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.csv", output_format="csv")


def test_soft_masking_and_n_runs(promoter_model: Path, tmp_path: Path) -> None:
    window = next(read_fasta(HUMAN)).sequence[30_000:30_300]
    n_run = window[:100] + "N" * 60 + window[160:]
    fasta = _fasta(tmp_path, {"upper": window, "lower": window.lower(), "n_run": n_run})
    predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", device="cpu")
    table = pd.read_csv(tmp_path / "o.tsv", sep="\t").set_index("id")["promoter"]
    assert table["lower"] == table["upper"]
    model, tokenizer, _ = load_classifier(promoter_model)
    direct = score_sequences(model, tokenizer, [n_run], batch_size=1, device="cpu")
    assert table["n_run"] == pytest.approx(direct[0, 0], abs=1e-6)


def test_cli_input_is_a_fasta_or_bed_with_genome(
    promoter_model: Path, human_genome: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("z\t100\t400\tr1\n")
    out = tmp_path / "o.parquet"
    options = ["-o", str(out), "--device", "cpu"]
    assert (
        main(
            [
                "predict",
                str(promoter_model),
                "--bed",
                str(bed),
                "--genome",
                str(human_genome),
                *options,
            ]
        )
        == 0
    )
    assert pd.read_parquet(out)["id"].tolist() == ["r1"]
    for inputs in ([], ["--bed", str(bed)], [str(human_genome), "--bed", str(bed)]):
        assert main(["predict", str(promoter_model), *inputs, *options]) == 1
        assert "either a FASTA file, or --bed with --genome" in capsys.readouterr().err


def test_table_round_trips_across_parquet_row_groups(tmp_path: Path) -> None:
    rows = [[f"r{i}", i, i % 2 == 0, np.float32(i / 3)] for i in range(7)]
    kinds = [str, int, bool, float]
    with open_table(tmp_path / "t.parquet", ["id", "n", "even", "x"], kinds, row_group=3) as table:
        for row in rows:
            table.write(row)
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back.values.tolist() == rows
    assert pq.ParquetFile(tmp_path / "t.parquet").num_row_groups == 3
    with pytest.raises(ValueError), open_table(tmp_path / "u.parquet", ["a"], [int]) as table:
        table.write(["not an int"])
    assert not (tmp_path / "u.parquet").exists()


def test_tsv_named_gz_is_gzipped(tmp_path: Path) -> None:
    # As every other genomix table (genomix.seqio.atomic.write_tsv): a .gz name means gzip, not
    # plain text.
    with open_table(tmp_path / "t.tsv.gz", ["id", "x"], [str, float]) as table:
        table.write(["r0", 0.25])
    assert gzip.decompress((tmp_path / "t.tsv.gz").read_bytes()) == b"id\tx\nr0\t0.25\n"


def test_mostly_n_records_are_flagged_once(
    promoter_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: all-N records scored without a word; now n_fraction says so, and one warning."""
    fasta = _fasta(
        tmp_path,
        {
            "n300": "N" * 300,
            "n5000": "N" * 5000,
            "half": "ACGT" * 50 + "N" * 100,
            "dna": "ACGT" * 90,
        },
    )
    with caplog.at_level("WARNING", logger="genomix.predict"):
        predict_fasta(promoter_model, fasta, tmp_path / "o.tsv", device="cpu")
    table = pd.read_csv(tmp_path / "o.tsv", sep="\t").set_index("id")
    assert table["n_fraction"].to_dict() == {"n300": 1.0, "n5000": 1.0, "half": 0.333333, "dna": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{fasta}: 2 of 4 records are more than 50% N; their scores say little (n_fraction)"
    ]
    predict_fasta(promoter_model, fasta, tmp_path / "w.tsv", device="cpu", per_window=True)
    windows = pd.read_csv(tmp_path / "w.tsv", sep="\t")
    assert windows.loc[windows["id"] == "half", "n_fraction"].tolist() == [0.333333]


def test_long_record_streams_windows_with_the_same_scores(
    promoter_model: Path, tmp_path: Path
) -> None:
    """Windows scored a batch at a time and folded: max and mean equal those of all windows."""
    human = next(read_fasta(HUMAN)).sequence[200_000:230_000]
    fasta = _fasta(tmp_path, {"long": human})
    predict_fasta(
        promoter_model, fasta, tmp_path / "w.tsv", per_window=True, batch_size=7, device="cpu"
    )
    windows = pd.read_csv(tmp_path / "w.tsv", sep="\t")
    assert len(windows) == (30_000 - 300) // 150 + 1
    for aggregate in ("max", "mean"):
        predict_fasta(
            promoter_model,
            fasta,
            tmp_path / "r.tsv",
            aggregate=aggregate,
            batch_size=5,
            device="cpu",
        )
        record = pd.read_csv(tmp_path / "r.tsv", sep="\t")
        expected = getattr(windows["promoter"], aggregate)()
        assert record["promoter"].iloc[0] == pytest.approx(expected, abs=2e-6)
