"""Tests for genomix.seqio.fasta: strict FASTA reading and the even-width rewrite."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genomix.errors import GenomixError
from genomix.seqio.fasta import FastaRecord, normalize_sequence, read_fasta, rewrite_fasta

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
HUMAN = DEMO / "human_grch37_chr20_1mb.fa.gz"


def _write(tmp_path: Path, data: bytes, name: str = "reads.fa") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _error(path: Path, record: str, position: int, shown: str) -> str:
    """Regex for the one-line invalid-character message."""
    return re.escape(f"{path}: record '{record}' position {position}: invalid character {shown}")


def test_multiline_crlf_lowercase_iupac(tmp_path: Path) -> None:
    path = _write(tmp_path, b">chr1 some description\r\nacgtRY\r\nSWKMbd\r\n>chr2\r\nhvnNA\r\n")
    assert list(read_fasta(path)) == [
        FastaRecord("chr1", "ACGTNNNNNNNN"),
        FastaRecord("chr2", "NNNNA"),
    ]


@pytest.mark.parametrize("name", ["reads.fa", "reads.fa.gz", "reads.txt"])
def test_gzip_sniffed_by_magic_not_name(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, gzip.compress(b">a\nACGT\n"), name)
    assert list(read_fasta(path)) == [FastaRecord("a", "ACGT")]


def test_plain_text_named_gz_read_as_plain(tmp_path: Path) -> None:
    path = _write(tmp_path, b">a\nACGT\n", "reads.fa.gz")
    assert list(read_fasta(path)) == [FastaRecord("a", "ACGT")]


@pytest.mark.parametrize("char", list("0123456789EFIJLOPQZ*"))
def test_non_dna_character_refused(tmp_path: Path, char: str) -> None:
    path = _write(tmp_path, f">chr1\nACGTACGTAC\nACGTAC{char}GT\n".encode())
    with pytest.raises(GenomixError, match=_error(path, "chr1", 17, repr(char))):
        list(read_fasta(path))


def test_message_is_one_line_and_names_the_expected_alphabet(tmp_path: Path) -> None:
    path = _write(tmp_path, b">chr1\nACGTACGTACGTACGTZ\n")
    with pytest.raises(GenomixError) as info:
        list(read_fasta(path))
    assert str(info.value) == (
        f"{path}: record 'chr1' position 17: invalid character 'Z' "
        "(expected A C G T N or an IUPAC code)"
    )


@pytest.mark.parametrize("gap", ["-", "."])
def test_gaps_refused(tmp_path: Path, gap: str) -> None:
    path = _write(tmp_path, f">aln\nAC{gap}GT\n".encode())
    with pytest.raises(GenomixError, match=_error(path, "aln", 3, repr(gap)) + ".*gap"):
        list(read_fasta(path))


def test_protein_sequence_refused(tmp_path: Path) -> None:
    # Biopython parses protein FASTA happily; M, K and Y are IUPAC codes, I is the first non-DNA
    path = _write(tmp_path, b">sp|P69905|HBA_HUMAN\nMKTAYIAKQR\n")
    with pytest.raises(GenomixError, match=_error(path, "sp|P69905|HBA_HUMAN", 6, "'I'")):
        list(read_fasta(path))


def test_nul_byte_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b">junk\nACG\x00T\n")
    with pytest.raises(GenomixError, match=_error(path, "junk", 4, "'\\x00'")):
        list(read_fasta(path))


def test_non_utf8_byte_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b">junk\nACGT\xff\xfeAC\n")
    with pytest.raises(GenomixError, match=_error(path, "junk", 5, "byte 0xff (not UTF-8 text)")):
        list(read_fasta(path))


def test_empty_file_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"")
    with pytest.raises(GenomixError, match=re.escape(f"{path}: no FASTA records")):
        list(read_fasta(path))


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    # SimpleFastaParser alone returns zero records for this file
    path = _write(tmp_path, b"\xef\xbb\xbf>a\nACGT\n")
    assert list(read_fasta(path)) == [FastaRecord("a", "ACGT")]


def test_text_before_first_header_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\nACGTACGT\n>a\nACGT\n")
    with pytest.raises(GenomixError, match=re.escape(f"{path}: line 2: expected a FASTA header")):
        list(read_fasta(path))


def test_no_header_at_all_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"ACGTACGT\nACGT\n")
    with pytest.raises(GenomixError, match=re.escape(f"{path}: line 1:")):
        list(read_fasta(path))


def test_empty_record_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b">a\nACGT\n>empty\n>b\nGG\n")
    with pytest.raises(GenomixError, match=re.escape(f"{path}: record 'empty' (line 3): empty")):
        list(read_fasta(path))


def test_header_without_name_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b">a\nACGT\n> \nGG\n")
    with pytest.raises(GenomixError, match=re.escape(f"{path}: line 3: record header has no name")):
        list(read_fasta(path))


def test_duplicate_names_name_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, b">a\nACGT\n>b\nAC\nGT\n>a second\nGG\n")
    with pytest.raises(
        GenomixError, match=re.escape(f"{path}: duplicate record name 'a' at lines 1 and 6")
    ):
        list(read_fasta(path))


def test_skip_invalid_reports_and_continues(tmp_path: Path) -> None:
    path = _write(tmp_path, b">ok1\nACGT\n>bad\nACZT\n>empty\n>ok2\nggcc\n>ok1\nAA\n")
    skipped: list[str] = []
    records = list(read_fasta(path, skip_invalid=True, on_skip=skipped.append))
    assert records == [FastaRecord("ok1", "ACGT"), FastaRecord("ok2", "GGCC")]
    assert len(skipped) == 3
    assert "record 'bad' position 3: invalid character 'Z'" in skipped[0]
    assert "record 'empty'" in skipped[1]
    assert "duplicate record name 'ok1'" in skipped[2]


def test_skip_invalid_logs_by_default(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, b">bad\nAC*T\n>ok\nAC\n")
    assert list(read_fasta(path, skip_invalid=True)) == [FastaRecord("ok", "AC")]
    assert "record 'bad' position 3" in caplog.text


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.fa"
    with pytest.raises(GenomixError, match=re.escape(f"{path}: no such FASTA file")):
        list(read_fasta(path))


def test_truncated_gzip(tmp_path: Path) -> None:
    path = _write(tmp_path, gzip.compress(b">a\n" + b"ACGT" * 5000 + b"\n")[:-20], "t.fa.gz")
    with pytest.raises(GenomixError, match=re.escape(f"{path}: corrupt or truncated gzip")):
        list(read_fasta(path))


def test_normalize_sequence_known_values() -> None:
    assert normalize_sequence("acgtRYSWKMBDHVNn", where="x") == "ACGT" + "N" * 12
    assert normalize_sequence("", where="x") == ""
    with pytest.raises(
        GenomixError, match=re.escape("x: record 'r' position 2: invalid character 'é'")
    ):
        normalize_sequence("Aé", where="x: record 'r'")


@given(st.text(alphabet="ACGTNacgtnRYSWKMBDHVryswkmbdhv", max_size=300))
def test_normalize_sequence_property(seq: str) -> None:
    out = normalize_sequence(seq, where="x")
    assert len(out) == len(seq)
    assert set(out) <= set("ACGTN")
    assert all(o == s.upper() for o, s in zip(out, seq, strict=True) if s.upper() in "ACGT")


def test_real_human_slice() -> None:
    records = list(read_fasta(HUMAN))
    assert [r.id for r in records] == ["z"]
    seq = records[0].sequence
    assert len(seq) == 1_000_000
    assert set(seq) <= set("ACGTN")
    assert seq.count("G") + seq.count("C") == 223_968 + 223_324  # SOURCE.md base counts


def test_rewrite_fasta_even_lines_keeps_case(tmp_path: Path) -> None:
    src = _write(tmp_path, b">r1 desc\nacgtac\nGT\nACGTACGTA\n>r2\nAC\n", "in.fa")
    dest = io.BytesIO()
    rewrite_fasta(src, dest, label="in.fa", width=4)
    assert dest.getvalue() == b">r1 desc\nacgt\nacGT\nACGT\nACGT\nA\n>r2\nAC\n"


def test_rewrite_fasta_missing_chrom(tmp_path: Path) -> None:
    src = _write(tmp_path, b">r1\nAC\n", "in.fa")
    with pytest.raises(
        GenomixError, match=r"in.fa: chromosome\(s\) chr9 not in the file \(it has r1\)"
    ):
        rewrite_fasta(src, io.BytesIO(), label="in.fa", chroms=("chr9",))
