"""Genome-browser tracks from `genomix predict --bed ... --bigwig/--bedgraph`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomix.cli import main
from genomix.tracks import window_shares

pybigtools = pytest.importorskip("pybigtools")


def test_window_shares_by_hand() -> None:
    # windows of 300 every 150 bp over 500 bp: starts 0, 150, 200 (the last flush with the end)
    windows = [(0, 300), (150, 450), (200, 500)]
    # centres 150, 300, 350: cuts half-way, at 225 and 325
    assert window_shares(windows, 500) == [(0, 225), (225, 325), (325, 500)]
    regular = [(s, s + 300) for s in range(0, 901, 150)]  # 1200 bp, exactly tiled
    shares = window_shares(regular, 1200)
    assert shares[0] == (0, 225) and shares[-1] == (975, 1200)  # half a stride + 150
    assert all(end - start == 150 for start, end in shares[1:-1])  # the central stride
    assert window_shares([(0, 200)], 200) == [(0, 200)]


def test_bigwig_and_bedgraph_hold_the_window_scores(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("z\t1000\t1500\tplus\t0\t+\nz\t3000\t3500\tminus\t0\t-\nz\t8000\t8100\n")
    argv = ["predict", str(promoter_model), "--bed", str(bed), "--genome", str(human_genome)]
    windows = tmp_path / "w.tsv"
    assert main([*argv, "-o", str(windows), "--per-window", "--format", "tsv"]) == 0
    assert main([*argv, "--bigwig", str(tmp_path / "bw"), "--bedgraph", str(tmp_path / "bg")]) == 0
    table = pd.read_csv(windows, sep="\t")
    score = {(i, s): p for i, s, p in table[["id", "start", "promoter"]].itertuples(index=False)}
    track = pybigtools.open(str(tmp_path / "bw" / "promoter.bw"))
    assert track.chroms() == {"z": 1_000_000}
    values = track.values("z", 0, 10_000, fillna=np.nan)
    # plus: record windows start 0, 150, 200 -> genome 1000, 1150, 1200; shares cut at 225, 325
    assert values[1000] == values[1224] == pytest.approx(score[("plus", 1000)], abs=1e-6)
    assert values[1225] == values[1324] == pytest.approx(score[("plus", 1150)], abs=1e-6)
    assert values[1325] == values[1499] == pytest.approx(score[("plus", 1200)], abs=1e-6)
    # minus: record base b is genome 3499 - b; record windows 0, 150, 200 are genome windows
    # starting 3200, 3050, 3000; the record's first share (bases 0..224) is genome 3275..3499.
    assert values[3499] == values[3275] == pytest.approx(score[("minus", 3200)], abs=1e-6)
    assert values[3274] == values[3175] == pytest.approx(score[("minus", 3050)], abs=1e-6)
    assert values[3174] == values[3000] == pytest.approx(score[("minus", 3000)], abs=1e-6)
    assert values[8000] == values[8099] == pytest.approx(score[("z:8000-8100", 8000)], abs=1e-6)
    assert np.isnan(values[[999, 1500, 2999, 3500, 7999, 8100]]).all()
    graph = pd.read_csv(tmp_path / "bg" / "promoter.bedGraph", sep="\t", header=None)
    assert graph[[0, 1, 2]].values.tolist() == [
        ["z", 1000, 1225], ["z", 1225, 1325], ["z", 1325, 1500],
        ["z", 3000, 3175], ["z", 3175, 3275], ["z", 3275, 3500], ["z", 8000, 8100],
    ]  # fmt: skip
    np.testing.assert_allclose(graph[3], [values[start] for start in graph[1]], atol=1e-5)


def test_tracks_refuse_overlapping_regions_and_fasta_input(
    promoter_model: Path, human_genome: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("z\t1000\t1500\nz\t1400\t1800\n")
    argv = ["predict", str(promoter_model), "--bed", str(bed), "--genome", str(human_genome)]
    assert main([*argv, "--bigwig", str(tmp_path / "bw")]) == 1
    assert "regions overlap at z:1400-1500" in capsys.readouterr().err
    assert not (tmp_path / "bw" / "promoter.bw").exists()
    fasta = tmp_path / "in.fa"
    fasta.write_text(">a\n" + "ACGT" * 100 + "\n")
    assert main(["predict", str(promoter_model), str(fasta), "--bedgraph", str(tmp_path)]) == 1
    assert "tracks need --bed regions" in capsys.readouterr().err
