"""Tests for genomix.kmers: known ids, round trips, reverse complement, DNABERT format.

The compiled kernel (genomix.kmer_codes) is checked against two independent references: a
plain-Python dict lookup per k-mer (hypothesis strings, every byte value) and a numpy one
(strided slices times place values) on the real sequences in data/demo.
"""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import genomix.kmers
from genomix.errors import GenomixError
from genomix.kmer_codes import write_kmer_ids, write_kmer_ids_many
from genomix.kmers import KmerTokenizer
from genomix.seqio.fasta import read_fasta_records

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")

acgt = st.text(alphabet="ACGT", min_size=0, max_size=120)
acgtn = st.text(alphabet="ACGTNacgtn", min_size=0, max_size=120)
k_values = st.integers(min_value=1, max_value=8)


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def reference_ids(seq: str | bytes, k: int, stride: int) -> list[int]:
    """Plain-Python tokenizer to compare against (a non-ASCII character of a str is one byte)."""
    index = {"".join(p): 5 + i for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    raw = seq if isinstance(seq, bytes) else seq.encode("ascii", errors="replace")
    text = raw.upper().decode("latin-1")  # bytes.upper changes a-z only
    return [index.get(text[i : i + k], 1) for i in range(0, len(text) - k + 1, stride)]


_CODES = np.full(256, 4, dtype=np.uint8)
_CODES[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = [0, 1, 2, 3, 0, 1, 2, 3]


def numpy_reference_ids(seq: bytes, k: int, stride: int) -> np.ndarray:
    """Vectorised reference: Horner over the k strided slices of 2-bit codes (4 = not ACGT)."""
    codes = _CODES[np.frombuffer(seq, dtype=np.uint8)]
    n_tok = (len(seq) - k) // stride + 1 if len(seq) >= k else 0
    values = np.zeros(n_tok, dtype=np.int64)
    bad = np.zeros(n_tok, dtype=bool)
    for j in range(k):
        column = codes[j : j + (n_tok - 1) * stride + 1 : stride] if n_tok else codes[:0]
        values = values * 4 + (column & 3)
        bad |= column == 4
    return np.where(bad, 1, values + 5)


@pytest.fixture(scope="module")
def demo_records() -> list[bytes]:
    """Real sequence from data/demo: 1 Mb human (upper case), 300 dm3 segments (lower case)
    and the one with a run of n, 100 DeepSEA 8 kb windows, 200 EPDnew promoters."""
    human = [seq.encode() for _, seq in read_fasta_records(DEMO / "human_grch37_chr20_1mb.fa.gz")]
    fly = [seq.encode() for _, seq in read_fasta_records(DEMO / "dm3_segments.fa.gz")]
    fly = fly[:300] + [seq for seq in fly[300:] if b"n" in seq]
    deepsea = pd.read_csv(DEMO / "deepsea919" / "test.dataset.csv.gz", header=None, usecols=[0])
    epd = pd.read_csv(DEMO / "epdnew_promoters_demo.tsv.gz", sep="\t", nrows=200)
    records = human + fly + [s.encode() for s in (*deepsea[0], *epd["sequence"])]
    assert sum(r.upper().count(b"N") for r in records) > 0  # the UNK path is exercised
    return records


def test_known_ids_k2() -> None:
    tok = KmerTokenizer(2)
    assert tok.encode("ACGT").tolist() == [6, 11, 16]
    assert tok.encode("acgt").tolist() == [6, 11, 16]
    assert tok.encode("ACGT").dtype == np.int32


def test_vocabulary_layout() -> None:
    tok = KmerTokenizer(3)
    assert tok.vocab_size == 5 + 64
    assert tok.tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert tok.tokens[5] == "AAA" and tok.tokens[-1] == "TTT"
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert KmerTokenizer(8).vocab_size == 65541


@pytest.mark.parametrize("long", [False, True])
def test_input_types_agree(long: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genomix.kmers, "_LONG_SEQUENCE", 0 if long else 1 << 20)
    tok = KmerTokenizer(4, 2)
    seq = "ACGTTGCANNACGTAG"
    expected = tok.encode(seq)
    raw = seq.encode()
    writable = np.frombuffer(raw, dtype=np.uint8).copy()
    interleaved = np.frombuffer(bytes(b for c in raw for b in (c, 0)), dtype=np.uint8)
    inputs = [
        raw,
        bytearray(raw),
        memoryview(raw),
        np.frombuffer(raw, dtype=np.uint8),  # read-only
        writable,
        interleaved[::2],  # strided: copied first
    ]
    for x in inputs:
        assert np.array_equal(tok.encode(x), expected), type(x)
    for ids in tok.encode_many([*inputs, seq]):
        assert np.array_equal(ids, expected)
    assert writable.flags.writeable  # encode reads through its own read-only view
    with pytest.raises(GenomixError, match="1-D uint8, got 2-D uint8"):
        tok.encode(writable.reshape(2, -1))


@pytest.mark.parametrize("k", [0, 9, -1])
def test_bad_k(k: int) -> None:
    with pytest.raises(GenomixError, match="k-mer size"):
        KmerTokenizer(k)


def test_bad_stride() -> None:
    with pytest.raises(GenomixError, match="stride"):
        KmerTokenizer(3, 0)
    with pytest.raises(GenomixError, match="k-mer size"):
        KmerTokenizer(2.0)  # type: ignore[arg-type]
    assert KmerTokenizer(np.int64(3), np.int64(3)).encode("ACGTTT").tolist() == [11, 68]


def test_decode_refuses_gapped_stride() -> None:
    tok = KmerTokenizer(2, 3)
    with pytest.raises(GenomixError, match="stride=3 > k=2"):
        tok.decode(tok.encode("ACGTACGT"))


@settings(max_examples=60, deadline=None)
@given(seq=acgtn, k=k_values, data=st.data())
def test_matches_reference_and_count(seq: str, k: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(min_value=1, max_value=10))
    tok = KmerTokenizer(k, stride)
    ids = tok.encode(seq)
    assert ids.tolist() == reference_ids(seq, k, stride)
    expected = 0 if len(seq) < k else (len(seq) - k) // stride + 1
    assert ids.size == expected == tok.tokens_for_length(len(seq))


@settings(max_examples=150, deadline=None)
@given(seq=st.binary(max_size=200), k=k_values, stride=st.integers(1, 10), long=st.booleans())
def test_any_bytes_match_reference(seq: bytes, k: int, stride: int, long: bool) -> None:
    """Arbitrary bytes (every non-ACGT byte is UNK), through both output paths of ``encode``."""
    tok = KmerTokenizer(k, stride)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(genomix.kmers, "_LONG_SEQUENCE", 0 if long else 1 << 20)
        ids = tok.encode(seq)
    assert ids.dtype == np.int32
    assert ids.tolist() == reference_ids(seq, k, stride)


@pytest.mark.parametrize("k", range(1, 9))
def test_every_byte_value_at_every_position(k: int) -> None:
    """Each of the 256 byte values, at even and odd offsets (pairs of bytes are looked up)."""
    filler = b"GATTACAcgtaTGCAN"
    seq = b"".join(bytes([byte]) + filler[: byte % 5] for byte in range(256))
    for stride in (1, 2, 3, k):
        assert KmerTokenizer(k, stride).encode(seq).tolist() == reference_ids(seq, k, stride)


def test_known_ids_with_unknown_bases() -> None:
    # k=3, stride 2 (pair lookups): ACG = 5 + 0*16 + 1*4 + 2; GNC unknown; CGT = 5 + 16 + 8 + 3
    assert KmerTokenizer(3, 2).encode("ACGNCGTA").tolist() == [11, 1, 32]
    # stride 1: only the k-mers that hold the N (or the non-ASCII character) are UNK
    assert KmerTokenizer(2).encode("ACNGT").tolist() == [6, 1, 1, 16]
    assert KmerTokenizer(2).encode("ACéGT").tolist() == [6, 1, 1, 16]


@pytest.mark.parametrize("k", range(1, 9))
def test_unknown_base_at_either_end_of_a_kmer(k: int) -> None:
    """An N next to all-A (value 0) or all-T (value 4**k - 1) bases is still UNK."""
    for stride in (1, 2, k):
        tok = KmerTokenizer(k, stride)
        for base in "AT":
            assert tok.encode(base * (k - 1) + "N").tolist() == [1]
            assert tok.encode("n" + base * (k - 1)).tolist() == [1]
            assert tok.encode(base * k).tolist() == [5 if base == "A" else 4 + 4**k]


@pytest.mark.parametrize("k", range(1, 9))
def test_real_sequences_match_numpy_reference(k: int, demo_records: list[bytes]) -> None:
    for stride in sorted({1, 2, 3, k, k + 1}):
        tok = KmerTokenizer(k, stride)
        expected = [numpy_reference_ids(r, k, stride) for r in demo_records]
        got = tok.encode_many(demo_records)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True)), stride
        one = demo_records[0]  # the 1 Mb record, in one call
        assert np.array_equal(tok.encode(one), expected[0])


def test_kernels_check_output_sizes() -> None:
    raw = b"ACGTACGT"
    with pytest.raises(ValueError, match="one slot per k-mer"):
        write_kmer_ids(raw, 3, 1, np.empty(5, dtype=np.int32))
    lengths = np.array([4, 4], dtype=np.int64)
    with pytest.raises(ValueError, match="token_ends do not match lengths"):
        write_kmer_ids_many(raw, lengths, 3, 1, np.empty(4, np.int32), np.array([2, 3]))
    with pytest.raises(ValueError, match="lengths or out do not match"):
        write_kmer_ids_many(raw, lengths, 3, 1, np.empty(5, np.int32), np.array([2, 4]))


@pytest.mark.parametrize(("k", "stride"), [(6, 1), (6, 6), (4, 4), (8, 8), (5, 5), (3, 2), (6, 4)])
def test_long_sequence_matches_reference(k: int, stride: int) -> None:
    """Long random mixed-case sequences, odd and even lengths, with and without an N."""
    rng = np.random.default_rng(k * 10 + stride)
    seq = "".join(rng.choice(list("ACGTacgt"), 300_007))
    tok = KmerTokenizer(k, stride)
    for text in (seq, seq[:150_001] + "N" + seq[150_002:], seq[:6000], seq[:6000] + "n"):
        assert tok.encode(text).tolist() == reference_ids(text, k, stride)


@settings(max_examples=40, deadline=None)
@given(seqs=st.lists(acgtn, max_size=6), k=k_values, stride=st.integers(1, 9))
def test_encode_many_equals_encode(seqs: list[str], k: int, stride: int) -> None:
    tok = KmerTokenizer(k, stride)
    many = tok.encode_many(seqs)
    assert [m.tolist() for m in many] == [tok.encode(s).tolist() for s in seqs]


@settings(max_examples=60, deadline=None)
@given(seq=acgt, k=k_values, overlapping=st.booleans())
def test_round_trip_acgt(seq: str, k: int, overlapping: bool) -> None:
    stride = 1 if overlapping else k
    tok = KmerTokenizer(k, stride)
    usable = tok.bases_for_tokens(tok.tokens_for_length(len(seq)))
    assert tok.decode(tok.encode(seq)) == seq[:usable]
    if (len(seq) - k) % stride == 0 and len(seq) >= k:
        assert usable == len(seq)


@settings(max_examples=60, deadline=None)
@given(seq=acgtn, k=k_values)
def test_n_kmers_are_unk_and_decode_as_n(seq: str, k: int) -> None:
    tok = KmerTokenizer(k)
    ids = tok.encode(seq)
    upper = seq.upper()
    for i, token in enumerate(ids):
        assert (token == tok.unk_id) == ("N" in upper[i : i + k])
    # Bases covered by at least one valid k-mer come back; the rest are N.
    covered = np.zeros(len(seq), dtype=bool)
    for i in np.flatnonzero(ids != tok.unk_id):
        covered[i : i + k] = True
    expected = "".join(b if c else "N" for b, c in zip(upper, covered, strict=True))
    assert tok.decode(ids) == expected[: tok.bases_for_tokens(ids.size)]


@settings(max_examples=60, deadline=None)
@given(seq=acgtn, k=k_values, overlapping=st.booleans())
def test_reverse_complement_on_tokens(seq: str, k: int, overlapping: bool) -> None:
    stride = 1 if overlapping else k
    tok = KmerTokenizer(k, stride)
    n = len(seq) - (len(seq) - k) % stride if len(seq) >= k else len(seq)
    seq = seq[:n]  # exactness needs (len - k) % stride == 0
    ids = tok.encode(seq)
    assert np.array_equal(tok.reverse_complement_ids(ids), tok.encode(revcomp(seq.upper())))


def test_reverse_complement_tokens_batch() -> None:
    tok = KmerTokenizer(3)
    seqs = ["ACGTTGCA", "GGATC", "ACNGTAAAC"]
    batch = torch.from_numpy(tok.encode_batch(seqs, add_cls=True, pad_to=10))
    out = tok.reverse_complement_tokens(batch, offset=1)
    expected = tok.encode_batch([revcomp(s) for s in seqs], add_cls=True, pad_to=10)
    assert torch.equal(out, torch.from_numpy(expected))
    lengths = torch.tensor([6, 3, 7])
    assert torch.equal(tok.reverse_complement_tokens(batch, lengths, offset=1), out)
    assert tok.rc_table[tok.encode("AAC")[0]] == tok.encode("GTT")[0]
    assert tok.rc_table[: tok.n_special].tolist() == list(range(5))


def test_encode_batch_padding() -> None:
    tok = KmerTokenizer(2)
    out = tok.encode_batch(["ACGT", "AC"], add_cls=True)
    assert out.dtype == np.int64
    assert out.tolist() == [[2, 6, 11, 16], [2, 6, 0, 0]]
    assert tok.encode_batch(["AC"], pad_to=3).tolist() == [[6, 0, 0]]
    with pytest.raises(GenomixError, match="pad_to=2"):
        tok.encode_batch(["ACGTA"], pad_to=2)
    assert tok.decode(out[0]) == "ACGT"


def test_lengths_helpers() -> None:
    tok = KmerTokenizer(6, 6)
    assert tok.tokens_for_length(5) == 0
    assert tok.tokens_for_length(1000) == 166
    assert tok.bases_for_tokens(166) == 996
    assert tok.bases_for_tokens(0) == 0
    assert KmerTokenizer(6).tokens_for_length(101) == 96


def test_save_load(tmp_path: Path) -> None:
    tok = KmerTokenizer(5, 2)
    path = tmp_path / "vocab.json"
    tok.save(path)
    loaded = KmerTokenizer.load(path)
    assert (loaded.k, loaded.stride, loaded.tokens) == (5, 2, tok.tokens)
    assert not (tmp_path / "vocab.json.tmp").exists()
    path.write_text('{"k": 5, "stride": 2, "tokens": ["[PAD]"]}')
    with pytest.raises(GenomixError, match="vocab.json: token list does not match"):
        KmerTokenizer.load(path)
    with pytest.raises(GenomixError, match="missing.json: vocabulary file not found"):
        KmerTokenizer.load(tmp_path / "missing.json")


def test_dnabert_6mer_format() -> None:
    """Decode DNABERT's space-separated 6-mers to 101 bp, re-encode, compare token strings."""
    tok = KmerTokenizer(6)
    with gzip.open(DEMO / "dnabert_6mer_dev.tsv.gz", "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in fh]
    assert header == ["sequence", "label"] and len(rows) == 1000
    for kmer_text, _label in rows:
        kmers = kmer_text.split(" ")
        seq = kmers[0] + "".join(kmer[-1] for kmer in kmers[1:])
        assert len(seq) == 101
        ids = tok.encode(seq)
        assert tok.ids_to_tokens(ids) == kmers
        assert tok.decode(ids) == seq
