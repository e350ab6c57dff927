"""Tests for genomix.kmers: known ids, round trips, reverse complement, DNABERT format."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genomix.errors import GenomixError
from genomix.kmer_codes import _CODE_TABLE, _codes_if_acgt
from genomix.kmers import KmerTokenizer

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")

acgt = st.text(alphabet="ACGT", min_size=0, max_size=120)
acgtn = st.text(alphabet="ACGTNacgtn", min_size=0, max_size=120)
k_values = st.integers(min_value=1, max_value=8)


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def reference_ids(seq: str, k: int, stride: int) -> list[int]:
    """Plain-Python tokenizer to compare against."""
    index = {"".join(p): 5 + i for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    seq = seq.upper()
    return [index.get(seq[i : i + k], 1) for i in range(0, len(seq) - k + 1, stride)]


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


def test_input_types_agree() -> None:
    tok = KmerTokenizer(4, 2)
    seq = "ACGTTGCANNACGTAG"
    a = tok.encode(seq)
    assert np.array_equal(a, tok.encode(seq.encode()))
    assert np.array_equal(a, tok.encode(np.frombuffer(seq.encode(), dtype=np.uint8)))


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


@settings(max_examples=80, deadline=None)
@given(
    seq=st.one_of(st.text("ACGTacgt", max_size=300), st.text("ACGTacgtNRY", max_size=300)),
    k=k_values,
    stride=st.integers(1, 9),
    words=st.integers(1, 4),
)
def test_chunked_encode_matches_reference(seq: str, k: int, stride: int, words: int) -> None:
    """Long sequences go in passes (uint64 decoder, else translate); force many short ones."""
    tok = KmerTokenizer(k, stride)
    tok._chunk = 8 * words  # tokens per pass; 8 * 2**17 // stride by default
    assert tok.encode(seq).tolist() == reference_ids(seq, k, stride)


@pytest.mark.parametrize(("k", "stride"), [(6, 1), (6, 6), (4, 4), (8, 8), (5, 5), (3, 2), (6, 4)])
def test_long_sequence_matches_reference(k: int, stride: int) -> None:
    """Default pass size; each path (matmul, uint16 pairs, strided) with and without an N."""
    rng = np.random.default_rng(k * 10 + stride)
    seq = "".join(rng.choice(list("ACGTacgt"), 300_007))
    tok = KmerTokenizer(k, stride)
    for text in (seq, seq[:150_001] + "N" + seq[150_002:], seq[:6000], seq[:6000] + "n"):
        assert tok.encode(text).tolist() == reference_ids(text, k, stride)


def test_uint64_decoder_every_byte() -> None:
    """_codes_if_acgt: translate's codes for ACGTacgt, None for each other byte in any lane."""
    base = b"GATTACAcgtaTGCAn"[:15] + b"A"  # 16 valid bytes
    expected = np.frombuffer(base.translate(_CODE_TABLE), dtype=np.uint8)
    assert np.array_equal(_codes_if_acgt(base, 0, 16), expected)
    assert np.array_equal(_codes_if_acgt(base, 8, 13), expected[8:])  # rounds up to a word
    assert _codes_if_acgt(base, 8, 17) is None  # would run past the end
    for byte in range(256):
        for lane in (0, 5, 7, 11):
            raw = bytearray(base)
            raw[lane] = byte
            codes = _codes_if_acgt(bytes(raw), 0, 16)
            if chr(byte) in "ACGTacgt":
                assert np.array_equal(codes, np.frombuffer(raw.translate(_CODE_TABLE), np.uint8))
            else:
                assert codes is None, (byte, lane)


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
