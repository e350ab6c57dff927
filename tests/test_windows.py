"""genomix.windows and genomix.seqio.fasta.stream_fasta: streamed records cut into the same windows,
with the same errors, as whole records."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from genomix.errors import GenomixError
from genomix.seqio.fasta import read_fasta, stream_fasta
from genomix.windows import AGGREGATES, ScoredRecord, cut_windows, window_starts


@pytest.mark.parametrize("length", [3, 5, 299, 300, 301, 450, 451, 1000, 1234])
@pytest.mark.parametrize("chunk", [1, 7, 300, 10_000])
def test_cut_windows_equal_window_starts(length: int, chunk: int) -> None:
    sequence = ("ACGTN" * 400)[:length]
    record = ScoredRecord("r", AGGREGATES["max"]())
    chunks = [sequence[i : i + chunk] for i in range(0, length, chunk)]
    cut = list(cut_windows(chunks, record, window=300, stride=150, minimum=3))
    expected = [(s, min(s + 300, length)) for s in window_starts(length, 300, 150)]
    assert [(start, end) for start, end, _ in cut] == expected
    assert all(bases == sequence[start:end] for start, end, bases in cut)
    assert (record.length, record.n_count) == (length, sequence.count("N"))


def test_cut_windows_refuses_a_record_shorter_than_a_kmer() -> None:
    record = ScoredRecord("tiny", AGGREGATES["mean"]())
    with pytest.raises(GenomixError, match="record 'tiny' is 2 bp, shorter than one 3-mer"):
        list(cut_windows(["A", "C"], record, window=300, stride=150, minimum=3))


def _streamed(path: Path, chunk: int) -> list[tuple[str, str] | str]:
    """(id, sequence) per record, or the error message of a record, as a skipping caller sees."""
    seen: list[tuple[str, str] | str] = []
    for stream in stream_fasta(path, chunk=chunk):
        try:
            seen.append((stream.id, "".join(stream.chunks)))
        except GenomixError as error:
            seen.append(str(error))
    return seen


FILES = {
    "plain": b">a desc\nACGTacgtRYKM\nNNNN\n>b\nGATTACA\n",
    "crlf_bom": b"\xef\xbb\xbf>a\r\nACGT\r\nAC\r\n>b\r\nTTTT\r\n",
    "blank_lines": b"\n\n>a\n\nACGT\n\n>b\nCC\n",
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_stream_fasta_reads_what_read_fasta_reads(tmp_path: Path, name: str, chunk: int) -> None:
    for path, data in ((tmp_path / "x.fa", FILES[name]), (tmp_path / "x.fa.gz", None)):
        path.write_bytes(data if data is not None else gzip.compress(FILES[name]))
        assert _streamed(path, chunk) == [(r.id, r.sequence) for r in read_fasta(path)]


def test_stream_fasta_errors_are_per_record_and_it_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "x.fa"
    path.write_bytes(
        b">good\nACGT\n>bad\nACGTZZ\nACGT\n>a\xff\nACGT\n>good\nAC\n>empty\n>last\nGGGG\n"
    )
    assert _streamed(path, 2) == [
        ("good", "ACGT"),
        f"{path}: record 'bad' position 5: invalid character 'Z' (expected A C G T N or an "
        "IUPAC code)",
        f"{path}: line 6: record name b'a\\xff' has byte 0xff (not UTF-8 text)",
        f"{path}: duplicate record name 'good' at lines 1 and 8",
        f"{path}: record 'empty' (line 10): empty sequence",
        ("last", "GGGG"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no FASTA records"),
        (b"ACGT\n>a\nAC\n", "line 1: expected a FASTA header starting with '>', got 'ACGT'"),
    ],
)
def test_stream_fasta_file_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "x.fa"
    path.write_bytes(data)
    with pytest.raises(GenomixError, match=message):
        list(stream_fasta(path))
