"""Vectorised k-mer arithmetic: DNA bytes -> 2-bit base codes -> k-mer values -> ids.

Pure functions on numpy arrays with no Python loop per base, used by
``genomix.kmers.KmerTokenizer`` (which owns the vocabulary and the public API). The constants
that depend only on ``(k, stride)`` are computed once into a frozen ``KmerPlan``
(``plan_kmers``); ``write_kmer_ids`` is the one entry point. ``bench/kmers.py`` times it.

Conventions: a sequence of ``n`` bytes holds ``T = (n - k) // stride + 1`` k-mers; the k-mer at
token ``t`` covers bytes ``t * stride .. t * stride + k - 1``. Its value is its base-4 number
(A=0 < C=1 < G=2 < T=3, first base most significant), 0 .. 4**k - 1, and its id is
``value + plan.id_offset``; a k-mer holding any byte other than A/C/G/T (either case) gets
``plan.unk_id``.

The tricks, in the order ``write_kmer_ids`` meets them:

- Chunks. Long sequences go in passes of about ``CHUNK_BASES`` bases (the tokens per pass are
  a multiple of 8, so every pass starts on a uint64 word). A pass's temporaries stay in L2
  and malloc recycles them; whole-sequence temporaries cost more in page faults than the
  arithmetic does.
- Codes. ``bytes.translate`` with ``_CODE_TABLE`` maps each byte to its 2-bit code (4 = not
  ACGT) in a C loop, several times faster than a numpy lookup. On a pass that is not the
  sequence's last, ``_codes_if_acgt`` does better: it reads 8 bytes per uint64 word, derives
  the 8 codes with shifts and XORs, and checks in the same pass that every byte is ACGT (if
  not, the pass falls back to ``translate``).
- Stride 1 (rolling values). The value of every 2-mer (and, for k > 3, every 4-mer) is built
  once per pass in uint8 (``_overlapping_mers``); each k-mer then joins at most three shifted
  slices of those (``PIECES``; e.g. a 7-mer = 4-mer * 4**3 + 2-mer * 4 + 1-mer), which is fewer
  and narrower passes than k passes over int32.
- Even k, even stride (paired lanes). One multiply packs two bases per uint16 lane; a second
  multiply by a "magic" constant gathers a k-mer's k/2 pairs from one unaligned uint64 word into
  its top 2k bits (``_pair_values``).
- Few non-overlapping k-mers (stride == k, T <= ``MATMUL_TOKENS``): one (T, k) @ (k,) integer
  matmul, cheaper than the ~8 ufunc calls (with their per-call overhead) of the general path.
- Otherwise: Horner over the k strided single-base slices, in place in uint8 or uint16.
- [UNK]. Only when a pass has a non-ACGT byte: its "not ACGT" flag is ORed over the same
  windows as the values (``_windows_any``). That equals a cumulative-sum window test and is
  ~20x faster than ``np.cumsum``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

BASES = "ACGT"

# bytes.translate table (a C loop, several times faster than a numpy lookup): the 2-bit code
# of A/C/G/T in either case; 4 for any other byte.
_CODE = bytearray(b"\x04" * 256)
for _i, _b in enumerate(BASES.encode()):
    _CODE[_b] = _CODE[_b + 32] = _i
_CODE_TABLE = bytes(_CODE)

# k-mers of 1, 2 and 4 bases fit in a uint8. With stride 1, 2- and 4-mers are built once for
# the whole pass and each k-mer value joins at most three of them (fewer, narrower passes
# than k passes over int32). With a larger stride, the k single-base slices are cheaper.
PIECES = {1: (1,), 2: (2,), 3: (2, 1), 4: (4,), 5: (4, 1), 6: (4, 2), 7: (4, 2, 1), 8: (4, 4)}

# Bases per pass over a long sequence: a pass's temporaries (~9 bytes per base at stride 1)
# then fit in a 2 MB L2 cache.
CHUNK_BASES = 1 << 17
# Up to this many non-overlapping k-mers, one integer matmul beats the ufunc path.
MATMUL_TOKENS = 1024

# Byte-lane masks for _codes_if_acgt.
_LANES_01 = np.uint64(0x0101010101010101)
_LANES_03 = np.uint64(0x0303030303030303)
_LANES_41 = np.uint64(0x4141414141414141)
_LANES_D9 = np.uint64(0xD9D9D9D9D9D9D9D9)


@dataclass(frozen=True, slots=True, eq=False)
class KmerPlan:
    """Constants of the arithmetic for one ``(k, stride)``; build it with ``plan_kmers``.

    Attributes:
        k: k-mer length, 1..8.
        stride: step between k-mer starts, >= 1.
        id_offset: id of the k-mer value 0 (the number of special tokens before the k-mers).
        unk_id: id of a k-mer that holds a non-ACGT byte.
        max_id: largest k-mer id, ``id_offset + 4**k - 1``.
        pieces: stride 1: one ``(m, offset, 4**m)`` per piece of ``PIECES[k]``: the k-mer's
            bases ``offset .. offset + m - 1`` are the m-mer starting there.
        mer_lengths: m-mers built beyond m = 1 for the pieces: (), (2,) or (2, 4).
        weights: (k,) int32 place values ``4**(k-1) .. 1`` for the matmul path when
            ``stride == k > 1``; else None.
        pair_magic: uint64 multiplier of the paired-lane path when k and stride are even on a
            little-endian host; else None.
    """

    k: int
    stride: int
    id_offset: int
    unk_id: int
    max_id: int
    pieces: tuple[tuple[int, int, int], ...]
    mer_lengths: tuple[int, ...]
    weights: np.ndarray | None
    pair_magic: np.uint64 | None


def plan_kmers(k: int, stride: int, *, id_offset: int, unk_id: int) -> KmerPlan:
    """The ``KmerPlan`` for k-mers of ``k`` (1..8) bases every ``stride`` (>= 1) bases."""
    lengths = PIECES[k]
    offsets = np.cumsum((0, *lengths[:-1])).tolist()
    pairable = k % 2 == 0 and stride % 2 == 0 and sys.byteorder == "little"
    # Gathers a k-mer's k/2 base pairs into the top 2k bits of a uint64; see _pair_values.
    magic = sum(2 ** (20 * i + 80 - 10 * k) for i in range(k // 2))
    return KmerPlan(
        k=k,
        stride=stride,
        id_offset=id_offset,
        unk_id=unk_id,
        max_id=id_offset + 4**k - 1,
        pieces=tuple((m, o, 4**m) for m, o in zip(lengths, offsets, strict=True)),
        mer_lengths=(2, 4)[: (k > 1) + (k > 3)],
        weights=4 ** np.arange(k - 1, -1, -1, dtype=np.int32) if stride == k > 1 else None,
        pair_magic=np.uint64(magic) if pairable else None,
    )


def chunk_tokens_for(stride: int) -> int:
    """Tokens per pass of ``write_kmer_ids``: ~``CHUNK_BASES`` bases, a multiple of 8 (>= 8)."""
    return max(8, CHUNK_BASES // stride // 8 * 8)


def write_kmer_ids(raw: bytes, out: np.ndarray, plan: KmerPlan, *, chunk_tokens: int) -> None:
    """Write the ids of every k-mer of ``raw`` to ``out``, in passes of ``chunk_tokens``.

    Args:
        raw: n >= k bytes of DNA, any case; a k-mer with a non-ACGT byte gets ``plan.unk_id``.
        out: (T,) int32, T = (n - k) // stride + 1, T >= 1; overwritten.
        plan: constants for the tokenizer's ``(k, stride)``.
        chunk_tokens: tokens per pass, a multiple of 8 (``chunk_tokens_for(stride)``).
    """
    n_tok = out.size
    if n_tok <= chunk_tokens:
        _encode_chunk(raw, out, plan)
        return
    k, stride = plan.k, plan.stride
    for first in range(0, n_tok, chunk_tokens):
        part = out[first : first + chunk_tokens]
        start = first * stride  # a multiple of 8, as chunk_tokens is
        stop = start + (part.size - 1) * stride + k
        codes = _codes_if_acgt(raw, start, stop)
        if codes is None:  # a non-ACGT byte, or the sequence's last pass
            _encode_chunk(raw[start:stop], part, plan)
        else:
            _write_ids(_kmer_values(codes, part.size, plan), part, plan)


def _codes_if_acgt(raw: bytes, start: int, stop: int) -> np.ndarray | None:
    """2-bit codes of ``raw[start:stop]`` (and up to 7 bytes after), or None.

    None when those bytes hold anything but A/C/G/T in either case, or run past the end of
    ``raw``; the caller then uses ``bytes.translate``. This computes the same codes 8 bytes at
    a time in uint64 lanes, ~1.5x faster than ``translate`` on long sequences.

    Returns:
        (8 * ceil((stop - start) / 8),) uint8 codes 0..3 (A, C, G, T), writable.
    """
    n_words = -(-(stop - start) // 8)
    if start + 8 * n_words > len(raw) or sys.byteorder != "little":
        return None
    word = np.frombuffer(raw, dtype="<u8", count=n_words, offset=start)
    # Per byte b: A C G T have bits 2,1 = 00 01 11 10, so code = (b >> 1 ^ b >> 2) & 3.
    shr1 = word >> np.uint64(1)
    shr2 = word >> np.uint64(2)
    shr1 ^= shr2  # bit 0 of each lane: bit1 ^ bit2 of b
    # Validity: b & 0xD9 (drop case bit 5 and code bits 1,2) is 0x41 for A/C/G and 0x50 for
    # T, i.e. 0x41 ^ 0x11 * is_t with is_t = bit2 & ~bit1 = (bit1 ^ bit2) & bit2. Exact for all
    # 256 byte values (see tests).
    is_t = shr1 & shr2
    is_t &= _LANES_01
    is_t *= np.uint64(0x11)
    check = word & _LANES_D9
    check ^= _LANES_41
    check ^= is_t
    if check.max():
        return None
    shr1 &= _LANES_03
    return shr1.view(np.uint8)


def _encode_chunk(raw: bytes, out: np.ndarray, plan: KmerPlan) -> None:
    """Write the ids of the (T,) = out.shape k-mers starting in ``raw`` to ``out`` (int32)."""
    text = raw.translate(_CODE_TABLE)
    codes = np.frombuffer(text, dtype=np.uint8)  # (n,) 2-bit codes; 4 = not ACGT; read-only
    if 4 not in text:  # memchr: far cheaper than codes.max() on short records
        weights = plan.weights
        if weights is not None and out.size <= MATMUL_TOKENS:
            # Few non-overlapping k-mers: one (T, k) @ (k,) integer matmul costs less than
            # the ~8 ufunc calls of the general path (whose per-call overhead dominates).
            rows = codes[: out.size * plan.k].reshape(out.size, plan.k)
            np.matmul(rows, weights, out=out)
            out += plan.id_offset
            return
        _write_ids(_kmer_values(codes, out.size, plan), out, plan)
        return
    # A k-mer is UNK when any of its bases is; OR-ing the flags over the same windows as
    # the values equals a cumulative-sum window test without np.cumsum (~20x slower here).
    bad = _windows_any(codes > 3, out.size, plan)
    _write_ids(_kmer_values(codes & 3, out.size, plan), out, plan)
    np.copyto(out, plan.unk_id, where=bad)


def _write_ids(values: np.ndarray, out: np.ndarray, plan: KmerPlan) -> None:
    """out[:] = values + id_offset; values: (T,) uint8, uint16 or int32 from ``_kmer_values``.

    May add to ``values`` in place (when it is writable): it is always scratch.
    """
    if (
        values.itemsize < 4
        and out.size > 4096
        and values.flags.writeable
        and plan.max_id < 256**values.itemsize
    ):
        # Adding in the narrow dtype, then a plain widening copy, is ~20% faster on long
        # chunks than a widening add (and slower on short ones: one more call).
        values += plan.id_offset
        np.copyto(out, values)
    else:
        np.add(values, plan.id_offset, out=out, dtype=np.int32)


def _kmer_values(codes: np.ndarray, n_tok: int, plan: KmerPlan) -> np.ndarray:
    """Base-4 value of every k-mer.

    Args:
        codes: (n,) uint8 codes 0..3 (n may exceed what the T k-mers cover).
        n_tok: T, at most (n - k) // stride + 1.

    Returns:
        (T,) values in 0 .. 4**k - 1: uint8 (k <= 4) or uint16, int32 on the pair path; may be
        a view of ``codes`` or of a scratch buffer.
    """
    k, stride = plan.k, plan.stride
    dtype = np.uint8 if k <= 4 else np.uint16
    if stride == 1:
        mers = _overlapping_mers(codes, plan.mer_lengths, add=True)
        columns = [(mers[m][o : o + n_tok], width) for m, o, width in plan.pieces]
    elif plan.pair_magic is not None:  # k and stride even, little-endian host
        return _pair_values(codes, n_tok, plan)
    else:
        span = (n_tok - 1) * stride + 1
        columns = [(codes[j : j + span : stride], 4) for j in range(k)]
    if len(columns) == 1:
        return columns[0][0]
    # Horner: acc = ((c0 * w1 + c1) * w2 + c2) ..., in place in the narrowest dtype.
    acc = np.multiply(columns[0][0], columns[1][1], dtype=dtype)
    acc += columns[1][0]
    for column, width in columns[2:]:
        acc *= width
        acc += column
    return acc


def _pair_values(codes: np.ndarray, n_tok: int, plan: KmerPlan) -> np.ndarray:
    """``_kmer_values`` for even k and even stride, with two integer multiplies in all.

    Args:
        codes: (n,) uint8 codes 0..3.
        n_tok: T, at most (n - k) // stride + 1.

    Returns:
        (T,) int32 values (a strided view of a scratch buffer).
    """
    # Bases 2i, 2i+1 sit in one little-endian uint16 lane as c0 + 256*c1; times 1025
    # (mod 2**16) that is c0 + 256*c1 + 1024*c0, whose bits 8..11 are 4*c0 + c1 (the terms
    # do not overlap, so no carries).
    n_lanes = codes.size // 2
    pairs = np.empty(n_lanes + 4, dtype=np.uint16)  # + 8 bytes: the last token's word
    np.multiply(codes[: 2 * n_lanes].view("<u2"), 1025, out=pairs[:n_lanes])
    pairs[n_lanes:] = 0
    pairs >>= 8
    # The 8 bytes from a k-mer's first pair hold its h = k/2 pairs P_j at bits 16j (and
    # later pairs above). Times sum_i 2**(20i + 80 - 10k), P_j lands at 64 - 2k + 4(h-1-j):
    # side by side in the top 2k bits. Every other term is a disjoint 4-bit field below
    # them (so no carries) or falls off bit 63.
    words = np.ndarray((n_tok,), dtype="<u8", buffer=pairs, strides=(plan.stride,))
    values = words * plan.pair_magic
    values >>= np.uint64(64 - 2 * plan.k)
    return values.view(np.int32)[::2]  # the low halves


def _windows_any(flags: np.ndarray, n_tok: int, plan: KmerPlan) -> np.ndarray:
    """(n,) bool per base -> (T,) bool: the k-mer holds a flagged base."""
    if plan.stride == 1:
        mers = _overlapping_mers(flags, plan.mer_lengths, add=False)
        pieces = [mers[m][o : o + n_tok] for m, o, _ in plan.pieces]
    else:
        span = (n_tok - 1) * plan.stride + 1
        pieces = [flags[j : j + span : plan.stride] for j in range(plan.k)]
    out = pieces[0].copy()
    for piece in pieces[1:]:
        out |= piece
    return out


def _overlapping_mers(
    per_base: np.ndarray, mer_lengths: tuple[int, ...], *, add: bool
) -> dict[int, np.ndarray]:
    """Every m-mer's value (add=True) or ORed flag (add=False), for m = 1 and ``mer_lengths``.

    Args:
        per_base: (n,) uint8 codes 0..3 (add=True) or bool flags (add=False).
        mer_lengths: (), (2,) or (2, 4); each m-mer joins two m/2-mers.

    Returns:
        m -> (n - m + 1,) array of ``per_base``'s dtype (a 4-mer's base-4 value fits a uint8).
    """
    mers = {1: per_base}
    for m in mer_lengths:
        half = mers[m // 2]
        head, tail = half[: -(m // 2)], half[m // 2 :]
        if add:  # multiply, not left_shift: numpy's uint8 left shift is ~5x slower
            mer = np.multiply(head, 4 ** (m // 2))
            mer += tail
        else:
            mer = head | tail
        mers[m] = mer
    return mers
