"""Genome scan: tiles and their centred windows by hand, parts that add up to the whole scan,
scores equal to `genomix predict` on the same windows, and the gather step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import HUMAN

from genomix.cli import main
from genomix.errors import GenomixError
from genomix.predict import predict_fasta
from genomix.scan import Tile, chromosome_tiles, gather_tables, part_tiles, scan_genome
from genomix.seqio.fasta import read_fasta


def _spans(tiles) -> list[tuple[int, int, int, int]]:
    return [(t.start, t.end, t.window_start, t.window_end) for t in tiles]


def test_tiles_and_centred_windows_by_hand() -> None:
    # Tiles of the window's size: the windows are the tiles, the last one shifted inside.
    assert _spans(chromosome_tiles("c", 25, window=10, tile=10)) == [
        (0, 10, 0, 10),
        (10, 20, 10, 20),
        (20, 25, 15, 25),  # centre 22 -> [17, 27), shifted to end at 25
    ]
    # Tiles of 4: each window centred on its tile (centre - 5), shifted inside at the ends.
    assert _spans(chromosome_tiles("c", 14, window=10, tile=4)) == [
        (0, 4, 0, 10),
        (4, 8, 1, 11),
        (8, 12, 4, 14),  # centre 10 -> [5, 15), shifted to [4, 14)
        (12, 14, 4, 14),
    ]
    # A chromosome shorter than the window: one window over all of it.
    assert _spans(chromosome_tiles("c", 6, window=10, tile=10)) == [(0, 6, 0, 6)]


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_parts_cover_every_tile_once_in_order(parts: int) -> None:
    lengths = [("chr1", 95), ("chr2", 10), ("chr3", 41)]
    whole = [t for chrom, n in lengths for t in chromosome_tiles(chrom, n, window=20, tile=10)]
    joined, bases = [], 0
    for part in range(parts):
        tiles, covered = part_tiles(lengths, window=20, tile=10, part=part, parts=parts)
        tiles = list(tiles)
        assert covered == sum(t.end - t.start for t in tiles)
        assert abs(len(tiles) - len(whole) / parts) < 1  # equal shares
        joined += tiles
        bases += covered
    assert joined == whole and bases == 146
    assert whole[10] == Tile("chr2", 0, 10, 0, 10)


def test_bad_tile_and_part() -> None:
    with pytest.raises(GenomixError, match="tile must be 1 to 20 bases"):
        part_tiles([("c", 50)], window=20, tile=30, part=0, parts=1)
    with pytest.raises(GenomixError, match="part 4 of 3"):
        part_tiles([("c", 50)], window=20, tile=10, part=3, parts=3)


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real chromosomes (1,000 and 700 bp of the human slice) and a gap of 400 N."""
    sequence = next(read_fasta(HUMAN)).sequence[200_000:201_700]
    path = tmp_path_factory.mktemp("scan") / "genome.fa"
    path.write_text(f">a\n{sequence[:1000]}\n>b\n{sequence[1000:]}\n>gap\n{'N' * 400}\n")
    return path


def test_scan_scores_the_centred_windows_like_predict(
    promoter_model: Path, genome: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scan.tsv"
    rows = scan_genome(promoter_model, genome, out, tile=200, batch_size=3, device="cpu")
    scan = pd.read_csv(out, sep="\t")
    # 5 tiles on a, 4 on b (the last of 100 bp), none on the all-N chromosome.
    assert rows == len(scan) == 9
    assert scan["chrom"].tolist() == ["a"] * 5 + ["b"] * 4
    assert scan["end"].tolist() == [200, 400, 600, 800, 1000, 200, 400, 600, 700]
    # The same windows (300 bp, centred on each tile) as records of their own for predict.
    sequences = dict((r.id, r.sequence) for r in read_fasta(genome))
    tiles = [t for name in ("a", "b") for t in chromosome_tiles(
        name, len(sequences[name]), window=300, tile=200)]  # fmt: skip
    windows = tmp_path / "windows.fa"
    windows.write_text(
        "".join(
            f">{t.chrom}_{t.start}\n{sequences[t.chrom][t.window_start : t.window_end]}\n"
            for t in tiles
        )
    )
    predict_fasta(promoter_model, windows, tmp_path / "predict.tsv", batch_size=8, device="cpu")
    expected = pd.read_csv(tmp_path / "predict.tsv", sep="\t")
    np.testing.assert_allclose(scan["promoter"], expected["promoter"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_cli_parts_gather_into_the_whole_scan(
    promoter_model: Path, genome: Path, tmp_path: Path, suffix: str
) -> None:
    common = [str(promoter_model), str(genome), "--tile", "150", "--device", "cpu"]
    whole = tmp_path / f"whole{suffix}"
    assert main(["scan", *common, "-o", str(whole)]) == 0
    parts = [tmp_path / f"part{i}{suffix}" for i in (1, 2, 3)]
    for i, part in enumerate(parts, start=1):
        assert main(["scan", *common, "--part", f"{i}/3", "-o", str(part)]) == 0
    gathered = tmp_path / f"gathered{suffix}"
    assert main(["gather", *map(str, parts), "-o", str(gathered)]) == 0
    read = pd.read_parquet if suffix == ".parquet" else lambda p: pd.read_csv(p, sep="\t")
    pd.testing.assert_frame_equal(read(gathered), read(whole))
    assert len(read(whole)) == 7 + 5  # ceil(1000/150) + ceil(700/150); the gap has no row


def test_gather_refuses_parts_of_other_models(tmp_path: Path) -> None:
    first, second = tmp_path / "1.tsv", tmp_path / "2.tsv"
    first.write_text("chrom\tstart\tend\tpromoter\na\t0\t10\t0.5\n")
    second.write_text("chrom\tstart\tend\tCTCF\na\t10\t20\t0.5\n")
    with pytest.raises(GenomixError, match=r"2\.tsv: columns chrom, start, end, CTCF differ"):
        gather_tables([first, second], tmp_path / "out.tsv")
    assert not (tmp_path / "out.tsv").exists()


def test_cli_part_must_be_i_of_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["scan", "m", "g.fa", "-o", str(tmp_path / "x.tsv"), "--part", "4/3"])
    assert "'4/3' is not I/N with 1 <= I <= N" in capsys.readouterr().err
