"""Tests for genomix.data.labels and .promoters: DeepSEA-style bins by hand, exactness on dm3,
promoters, streaming."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomix.cli import main
from genomix.data.labels import (
    _n_runs,
    build_chromatin_table,
    covered_bases,
    iter_chromatin_table,
    merge_intervals,
    write_table,
    write_tables,
)
from genomix.data.promoters import build_promoter_table
from genomix.data.tables import read_labeled_table
from genomix.errors import GenomixError
from genomix.seqio.bed import read_bed
from genomix.seqio.fasta import read_fasta_records, read_sequence_bytes

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
TESTS_DATA = ROOT / "tests" / "data"
DM3_PROFILES = (
    "BEAF_Kc",
    "BEAF_Mbn2",
    "CTCF_Kc",
    "CTCF_Mbn2",
    "Cp190_Kc",
    "Cp190_Mbn2",
    "SuHw_Kc",
    "SuHw_Mbn2",
)
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path


def random_dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), size=n))


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Path, Path]:
    """chr1 (2 kb), a segment chr2:1000-3000, an all-N chr3; returns (fasta, peak folder)."""
    fasta = write_fasta(
        tmp_path / "toy.fa",
        {"chr1": random_dna(2000, 1), "chr2:1000-3000": random_dna(2000, 2), "chr3": "N" * 1000},
    )
    peaks = {
        "exact100": "track name=x\n1\t400\t500\n",  # bin 400: 100 bp -> positive
        "short99": "1\t600\t699\n",  # bin 600: 99 bp -> negative
        "union": "# overlapping\n1\t800\t880\n1\t820\t880\n",  # union 80 bp -> negative
        "span": "1\t950\t1450\n2\t2400\t2500\tpeak\t0\t.\t5\t1\t2\t50\n",  # narrowPeak columns
    }
    folder = tmp_path / "peaks"
    folder.mkdir()
    for name, text in peaks.items():
        (folder / f"{name}.bed").write_text(text)
    return fasta, folder


def test_hand_computed_bins(toy: tuple[Path, Path]) -> None:
    fasta, folder = toy
    peaks = {p: folder / f"{p}.bed" for p in ("exact100", "short99", "union", "span")}
    table = build_chromatin_table(fasta, peaks, valid_chroms=("chr2",), test_chroms=("chr3",))
    assert list(table.columns) == ["chrom", "start", "end", "split", *peaks]
    chr1 = table[table["chrom"] == "chr1"].set_index("start")
    assert chr1.index.tolist() == [0, 200, 400, 600, 800, 1000]  # bins 400..1400
    assert (chr1["end"] - chr1.index == 1000).all()
    assert chr1["exact100"].tolist() == [1, 0, 0, 0, 0, 0]
    assert chr1["short99"].sum() == 0
    assert chr1["union"].sum() == 0
    # 950-1450 covers bin 800 by 50, bins 1000 and 1200 fully, bin 1400 by 50.
    assert chr1["span"].tolist() == [0, 0, 0, 1, 1, 0]
    seg = table[table["chrom"] == "chr2:1000-3000"]
    # Bins at genome positions 1400..2400 -> windows 0..1000 within the record.
    assert seg["start"].tolist() == [0, 200, 400, 600, 800, 1000]
    assert seg["span"].tolist() == [0, 0, 0, 0, 0, 1]
    assert set(seg["split"]) == {"valid"} and set(chr1["split"]) == {"train"}
    assert "chr3" not in set(table["chrom"])  # all-N windows dropped


def test_margin_keeps_the_bins_of_the_widest_flank(toy: tuple[Path, Path]) -> None:
    """Flank 100 with margin 400 labels exactly the flank-400 bins, with 400-bp windows."""
    fasta, folder = toy
    peaks = {p: folder / f"{p}.bed" for p in ("exact100", "span")}
    held_out = {"valid_chroms": ("chr2",), "test_chroms": ("chr3",)}
    wide = build_chromatin_table(fasta, peaks, flank=400, **held_out)
    narrow = build_chromatin_table(fasta, peaks, flank=100, margin=400, **held_out)
    assert (narrow["start"] + 100).tolist() == (wide["start"] + 400).tolist()  # same bins
    assert (narrow["end"] - narrow["start"] == 400).all()
    chr1 = narrow[narrow["chrom"] == "chr1"]
    assert chr1["start"].tolist() == [300, 500, 700, 900, 1100, 1300]  # bins 400..1400
    assert narrow[list(peaks)].equals(wide[list(peaks)])  # labels are of the bin alone
    unmargined = build_chromatin_table(fasta, peaks, flank=100, **held_out)
    assert len(unmargined) > len(narrow)  # flank 100 alone reaches bins nearer the record ends
    with pytest.raises(GenomixError, match="margin=50 is less than chromatin.flank=100"):
        build_chromatin_table(fasta, peaks, flank=100, margin=50, **held_out)


def test_interval_helpers() -> None:
    merged = merge_intervals(np.array([50, 0, 10, 100]), np.array([60, 20, 30, 100]))
    assert merged.tolist() == [[0, 30], [50, 60], [100, 100]]
    cover = covered_bases(merged, np.array([0, 25, 55, 200]), np.array([10, 55, 200, 300]))
    assert cover.tolist() == [10, 10, 5, 0]


def test_read_bed_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t10\t20\nchr1\tten\t20\n")
    with pytest.raises(GenomixError, match="bad.bed: line 2: expected"):
        read_bed(bad)
    with pytest.raises(GenomixError, match="missing.bed: file not found"):
        read_bed(tmp_path / "missing.bed")
    gz = tmp_path / "p.bed.gz"
    gz.write_bytes(gzip.compress(b"browser x\nchr1\t1\t5\tn\t0\t-\n"))
    assert read_bed(gz).values.tolist() == [["chr1", 1, 5, "-"]]


def test_dm3_chr3l_matches_reference() -> None:
    """Every chr3L window and label equals the DeepSEA-rule reference from the data folder."""
    peaks = {p: DEMO / "dm3_peaks" / f"{p}.bed.gz" for p in DM3_PROFILES}
    table = build_chromatin_table(
        DEMO / "dm3_segments.fa.gz", peaks, valid_chroms=("chrX",), test_chroms=("chr3L",)
    )
    parts = table["chrom"].str.extract(r"^(?P<arm>.+):(?P<offset>\d+)-\d+$")
    mine = table[parts["arm"] == "chr3L"].copy()
    offset = parts.loc[mine.index, "offset"].astype(np.int64)
    mine["chrom"], mine["start"], mine["end"] = (
        "chr3L",
        mine["start"] + offset,
        mine["end"] + offset,
    )
    ref = pd.read_csv(TESTS_DATA / "dm3_windows_ref_chr3L_sample.tsv.gz", sep="\t")
    cols = ["chrom", "start", "end", *DM3_PROFILES]
    mine = mine[cols].sort_values("start").reset_index(drop=True).astype({p: int for p in cols[3:]})
    ref = ref[cols].sort_values("start").reset_index(drop=True)
    assert len(mine) == len(ref) == 16306
    pd.testing.assert_frame_equal(mine, ref, check_dtype=False)
    assert set(table.loc[parts["arm"] == "chr3L", "split"]) == {"test"}


def test_chromatin_table_reads_back(tmp_path: Path, toy: tuple[Path, Path]) -> None:
    fasta, folder = toy
    table = build_chromatin_table(
        fasta, {"span": folder / "span.bed"}, valid_chroms=(), test_chroms=("chr3",)
    )
    out = tmp_path / "windows.tsv.gz"
    write_table(table, out)
    assert not (tmp_path / "windows.tsv.gz.tmp").exists()
    read = read_labeled_table(out, task="chromatin", genome=fasta)
    assert read.profiles == ("span",)
    genome = dict(read_fasta_records(fasta))
    row = table.iloc[3]
    assert read.sequences[3] == genome[row["chrom"]][row["start"] : row["end"]]
    assert read.labels[:, 0].tolist() == table["span"].tolist()


def _bigbed_of(bed: Path) -> Path:
    """The same intervals as a bigBed (sorted, as the format requires), written by pybigtools."""
    pybigtools = pytest.importorskip("pybigtools")
    rows = sorted(
        (line.split("\t") for line in bed.read_text().splitlines() if line[:1].isdigit()),
        key=lambda f: (f[0], int(f[1])),
    )
    sizes = {f[0]: 10_000 for f in rows}
    path = bed.with_suffix(".bb")
    writer = pybigtools.open(str(path), "w")
    writer.write(sizes, [(f[0], int(f[1]), int(f[2]), "\t".join(f[3:])) for f in rows])
    return path


def test_bigbed_peaks_give_the_bed_table(tmp_path: Path, toy: tuple[Path, Path]) -> None:
    fasta, folder = toy
    beds = sorted(folder.glob("*.bed"))
    outputs = {}
    for kind, files in (("bed", beds), ("bb", [_bigbed_of(bed) for bed in beds])):
        outputs[kind] = tmp_path / f"{kind}.tsv"
        peaks = [f"{file.stem}={file}" for file in files]
        argv = ["labels", str(fasta), "--peaks", *peaks, "--test-chroms", "chr3"]
        assert main([*argv, "--valid-chroms", "chr2", "-o", str(outputs[kind])]) == 0
    assert outputs["bed"].read_bytes() == outputs["bb"].read_bytes()
    table = pd.read_csv(outputs["bb"], sep="\t")
    assert table[["exact100", "span"]].to_numpy().sum() > 0  # the peaks were read
    narrow = read_bed(folder / "span.bb")
    assert narrow.values.tolist() == [["1", 950, 1450, "."], ["2", 2400, 2500, "."]]


def test_unreadable_bigbed_is_a_genomix_error(tmp_path: Path) -> None:
    pytest.importorskip("pybigtools")
    bad = tmp_path / "cut.bb"
    bad.write_bytes((0x8789F2EB).to_bytes(4, "little") + b"\0" * 20)
    with pytest.raises(GenomixError, match="cut.bb: unreadable bigBed"):
        read_bed(bad)


@pytest.fixture(scope="module")
def promoters(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    genome = tmp_path_factory.mktemp("hs") / "z.fa.gz"
    genome.write_bytes((DEMO / "human_grch37_chr20_1mb.fa.gz").read_bytes())
    table = build_promoter_table(
        genome, TESTS_DATA / "human_chr20_1mb_tss.bed", valid_chroms=(), test_chroms=("z",)
    )
    return table, genome


def test_promoter_positives(promoters: tuple[pd.DataFrame, Path]) -> None:
    table, _ = promoters
    assert list(table.columns) == ["chrom", "start", "end", "strand", "split", "label"]
    pos = table[table["label"] == 1]
    # tssEdge (999980 +) has no full window; the other five do.
    assert sorted(zip(pos["start"], pos["end"], pos["strand"], strict=True)) == [
        (9751, 10051, "+"),
        (9851, 10151, "+"),
        (49950, 50250, "-"),
        (199751, 200051, "+"),
        (499950, 500250, "-"),
    ]
    assert set(table["split"]) == {"test"} and set(table["chrom"]) == {"z"}


def test_promoter_negatives(promoters: tuple[pd.DataFrame, Path]) -> None:
    table, genome = promoters
    seq = next(read_fasta_records(genome))[1]
    pos, neg = table[table["label"] == 1], table[table["label"] == 0]
    assert len(neg) == len(pos) and (neg["strand"] == "+").all()
    for start in neg["start"]:
        assert ((pos["end"] <= start) | (pos["start"] >= start + 300)).all()

    def gc_bins(frame: pd.DataFrame) -> list[int]:
        gc = [sum(b in "GC" for b in seq[s : s + 300]) for s in frame["start"]]
        return sorted(min(g * 20 // 300, 19) for g in gc)

    assert gc_bins(neg) == gc_bins(pos)
    again = build_promoter_table(
        genome, TESTS_DATA / "human_chr20_1mb_tss.bed", valid_chroms=(), test_chroms=("z",)
    )
    pd.testing.assert_frame_equal(again, table)


def test_promoter_minus_strand_reads_as_revcomp(
    tmp_path: Path, promoters: tuple[pd.DataFrame, Path]
) -> None:
    table, genome = promoters
    out = tmp_path / "promoters.tsv"
    write_table(table, out)
    read = read_labeled_table(out, task="promoter", genome=genome)
    seq = next(read_fasta_records(genome))[1]
    row = int(np.flatnonzero(table["strand"].to_numpy() == "-")[0])
    start, end = table["start"].iloc[row], table["end"].iloc[row]
    assert read.sequences[row] == seq[start:end].translate(COMPLEMENT)[::-1]
    assert read.labels[row, 0] == 1.0 and read.profiles == ("promoter",)


def test_promoter_chr_prefix_and_no_windows(tmp_path: Path) -> None:
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": random_dna(5000, 3)})
    bed = tmp_path / "tss.bed"
    bed.write_text("1\t1000\t1001\tx\t0\t+\n")
    held_out = {"valid_chroms": (), "test_chroms": ("chr1",)}
    table = build_promoter_table(fasta, bed, negatives_per_positive=2, **held_out)
    assert table["label"].tolist().count(0) == 2 and set(table["chrom"]) == {"chr1"}
    bed.write_text("chr1\t10\t11\tx\t0\t+\n")
    with pytest.raises(GenomixError, match="tss.bed: no TSS window lies inside"):
        build_promoter_table(fasta, bed, **held_out)


def test_misspelled_held_out_chromosome_is_refused(tmp_path: Path) -> None:
    genome = tmp_path / "g.fa"
    genome.write_text(">chr1\n" + "ACGT" * 500 + "\n")
    bed = tmp_path / "p.bed"
    bed.write_text("chr1\t100\t400\n")
    with pytest.raises(GenomixError, match=r"g.fa: held-out chromosome\(s\) chr1l not found"):
        build_chromatin_table(genome, {"p": bed}, valid_chroms=(), test_chroms=("chr1l",))
    with pytest.raises(GenomixError, match="no test chromosomes given"):
        build_chromatin_table(genome, {"p": bed}, valid_chroms=(), test_chroms=())
    # The promoter table too: a test chromosome the genome lacks would leave no test rows.
    tss = tmp_path / "tss.bed"
    tss.write_text("chr1\t1000\t1001\tx\t0\t+\n")
    with pytest.raises(GenomixError, match=r"g.fa: held-out chromosome\(s\) 8 not found"):
        build_promoter_table(genome, tss, valid_chroms=(), test_chroms=("8",))


def test_streamed_table_equals_the_whole_table(tmp_path: Path, toy: tuple[Path, Path]) -> None:
    """write_tables(iter_chromatin_table) writes what write_table(build_chromatin_table) does."""
    fasta, folder = toy
    peaks = {p: folder / f"{p}.bed" for p in ("exact100", "span")}
    kwargs = {"valid_chroms": ("chr2",), "test_chroms": ("chr3",)}
    whole, streamed = tmp_path / "whole.tsv.gz", tmp_path / "streamed.tsv.gz"
    write_table(build_chromatin_table(fasta, peaks, **kwargs), whole)
    assert len(list(iter_chromatin_table(fasta, peaks, **kwargs))) == 1  # small records batched
    chunks = list(iter_chromatin_table(fasta, peaks, chunk_bins=1, **kwargs))
    assert [chunk["chrom"].iloc[0] for chunk in chunks] == ["chr1", "chr2:1000-3000"]
    assert write_tables(iter(chunks), streamed) == sum(len(chunk) for chunk in chunks) == 12
    assert gzip.decompress(streamed.read_bytes()) == gzip.decompress(whole.read_bytes())
    again = tmp_path / "again.tsv.gz"
    write_tables(iter_chromatin_table(fasta, peaks, **kwargs), again)
    assert again.read_bytes() == streamed.read_bytes()  # no time or file name in the header


def test_held_out_names_checked_before_any_record_is_read(tmp_path: Path) -> None:
    genome = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 500})
    (tmp_path / "g.fa.fai").write_text("chr1\t2000\t6\t2000\t2001\n")
    bed = tmp_path / "p.bed"
    bed.write_text("chr1\t100\t400\n")
    chunks = iter_chromatin_table(genome, {"p": bed}, valid_chroms=("chr7",), test_chroms=("chr1",))
    with pytest.raises(GenomixError, match=r"held-out chromosome\(s\) chr7 not found"):
        next(chunks)


def test_n_runs_match_a_per_base_count() -> None:
    seq = bytearray(b"NNACGTnnnACNGT" * 3)
    runs = _n_runs(seq)
    flags = np.array([base in b"Nn" for base in seq])
    assert covered_bases(runs, np.array([0]), np.array([len(seq)]))[0] == flags.sum() == 18
    assert runs[:3].tolist() == [[0, 2], [6, 9], [11, 12]]


def test_read_sequences_matches_biopython(tmp_path: Path) -> None:
    fasta = tmp_path / "r.fa.gz"
    fasta.write_bytes(gzip.compress(b">a desc\r\nACGT\r\nac\n>b\n\nTT\n>c\nNNNN\nG\n"))
    assert [(name, bytes(seq)) for name, seq in read_sequence_bytes(fasta)] == [
        (name, seq.encode()) for name, seq in read_fasta_records(fasta)
    ]


def test_epdnew_style_intervals_give_the_tss_windows(
    tmp_path: Path, promoters: tuple[pd.DataFrame, Path]
) -> None:
    """60-bp EPDnew promoters (49 bp upstream .. 10 bp downstream) with bed_upstream=49 give the
    same table as the 1-bp TSSs they were made from; with_sequence cuts the windows."""
    table, genome = promoters
    tss = read_bed(TESTS_DATA / "human_chr20_1mb_tss.bed")
    minus = tss["strand"] == "-"
    epd = tss.assign(
        start=np.where(minus, tss["start"] - 10, tss["start"] - 49),
        end=np.where(minus, tss["start"] + 50, tss["start"] + 11),
    )
    bed = tmp_path / "epd.bed"
    bed.write_text(
        "".join(f"z\t{r.start}\t{r.end}\tp\t900\t{r.strand}\n" for r in epd.itertuples())
    )
    built = build_promoter_table(
        genome, bed, valid_chroms=(), test_chroms=("z",), bed_upstream=49, with_sequence=True
    )
    pd.testing.assert_frame_equal(built.drop(columns="sequence"), table)
    seq = next(read_fasta_records(genome))[1].upper()
    for row in built.itertuples():
        window = seq[row.start : row.end]
        want = window.translate(COMPLEMENT)[::-1] if row.strand == "-" else window
        assert row.sequence == want
    with pytest.raises(GenomixError, match="bed_upstream=-1: must not be negative"):
        build_promoter_table(genome, bed, test_chroms=("z",), bed_upstream=-1)


def test_promoters_command_writes_a_genome_free_table(
    tmp_path: Path, promoters: tuple[pd.DataFrame, Path]
) -> None:
    table, genome = promoters
    out = tmp_path / "promoters.tsv.gz"
    tss = str(TESTS_DATA / "human_chr20_1mb_tss.bed")
    argv = ["promoters", str(genome), "--tss", tss, "-o", str(out), "--test-chroms", "z"]
    assert main(argv) == 0
    read = read_labeled_table(out, task="promoter")  # no genome: the sequences are in the table
    assert len(read) == len(table) and read.labels[:, 0].tolist() == table["label"].tolist()
