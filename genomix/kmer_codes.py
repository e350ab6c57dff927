"""Compiled k-mer kernel: DNA bytes -> k-mer token ids in one pass (numba).

``genomix.kmers.KmerTokenizer`` owns the vocabulary and the public API; this module holds the
loops it runs. Conventions: a sequence of ``n`` bytes holds ``T = (n - k) // stride + 1``
k-mers (none when ``n < k``); the k-mer at token ``t`` covers bytes ``t * stride ..
t * stride + k - 1``. Its value is its base-4 number (A=0 < C=1 < G=2 < T=3, first base most
significant), 0 .. 4**k - 1, and its id is ``ID_OFFSET + value``; a k-mer holding any byte other
than A/C/G/T (either case) is ``UNK_ID``.

Two lookup tables and two loops; the loops are compiled once per k (1..8), so that shifts,
masks and trip counts are constants:

- Codes. ``_BASE_CODES`` maps a byte to its 2-bit code, ``_PAIR_CODES`` two bytes (read as one
  16-bit word) to a 4-bit code: two bases per lookup. A non-ACGT byte gives ``_BAD`` (bit 16).
- Stride 1 (``_rolling``): a rolling base-4 value, two bytes (so two k-mers) per step,
  ``value = (value * 16 + pair) & mask``, and the position of the last non-ACGT byte; a k-mer
  is [UNK] when that position falls inside it.
- Stride >= 2 (``_direct``): every k-mer is read on its own, pair by pair. ``_BAD`` survives
  the shifts within 32 bits and is >= 4**8, so one ``value < 4**k`` compare tells a valid
  k-mer, with no flag kept beside the value. At stride 6 this is several times faster than
  rolling over the skipped bytes (measured).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

BASES = "ACGT"
UNK_ID = 1  # id of a k-mer with a non-ACGT byte ([UNK] in genomix.kmers.SPECIAL_TOKENS)
ID_OFFSET = 5  # id of k-mer value 0: the number of special tokens before the k-mers

_BAD = 1 << 16  # code of a non-ACGT base or pair: >= 4**8; shifted by at most 12 bits in all


def _code_tables() -> tuple[np.ndarray, np.ndarray]:
    """(256,) and (65536,) uint32 codes of a byte and of a byte pair; ``_BAD`` if not ACGT.

    A pair's index is its two bytes read as one native-order uint16 (as ``_load_pair`` reads
    them), so the table is right on big- and little-endian hosts alike.
    """
    base = np.full(256, _BAD, dtype=np.uint32)
    for code, letter in enumerate(BASES.encode()):
        base[letter] = base[letter + 32] = code  # upper and lower case
    first, second = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(-1, 2).T
    pair = np.where((base[first] | base[second]) >= _BAD, _BAD, base[first] * 4 + base[second])
    return base, pair.astype(np.uint32)


# Global arrays are frozen into the compiled code as constants.
_BASE_CODES, _PAIR_CODES = _code_tables()


@intrinsic
def _load_pair(typingctx, raw, index):
    """``raw[index]`` and ``raw[index + 1]`` as one native-order uint16 (an unaligned load)."""

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.gep(array.data, [args[1]])
        word = builder.bitcast(pointer, ir.IntType(16).as_pointer())
        return builder.load(word, align=1)

    return types.uint16(raw, types.intp), codegen


@numba.njit(nogil=True, inline="always")
def _rolling(raw: np.ndarray, out: np.ndarray, k: int) -> None:
    """Stride 1: out[t] = id of raw[t : t + k]; raw (n,) uint8, out (n - k + 1,) int32."""
    mask = 4**k - 1
    value = 0  # base-4 value of the last bytes read (k - 1, then k + 1 after each step)
    last_bad = -1  # index of the last non-ACGT byte read
    for i in range(k - 1):
        code = _BASE_CODES[raw[i]]
        if code >= _BAD:
            last_bad = i
        value = value * 4 + (code & 3)
    # Two bytes per step, so two k-mers: ~1.4x faster than one (measured).
    for t in range(0, out.size - 1, 2):
        i = t + k - 1  # k-mers t and t + 1 end at bytes i and i + 1
        pair = _PAIR_CODES[_load_pair(raw, i)]
        bad_for_t = last_bad  # as of byte i
        if pair >= _BAD:  # rare: find which byte, and keep the other's code
            first, second = _BASE_CODES[raw[i]], _BASE_CODES[raw[i + 1]]
            if first >= _BAD:
                bad_for_t = last_bad = i
            if second >= _BAD:
                last_bad = i + 1
            pair = (first & 3) * 4 + (second & 3)
        value = (value * 16 + pair) & (mask * 4 + 3)
        out[t] = UNK_ID if bad_for_t >= t else (value >> 2) + ID_OFFSET
        out[t + 1] = UNK_ID if last_bad > t else (value & mask) + ID_OFFSET
    if out.size % 2:
        t = out.size - 1
        code = _BASE_CODES[raw[t + k - 1]]
        if code >= _BAD:
            last_bad = t + k - 1
        value = (value * 4 + (code & 3)) & mask
        out[t] = UNK_ID if last_bad >= t else value + ID_OFFSET


@numba.njit(nogil=True, inline="always")
def _direct(raw: np.ndarray, stride: int, out: np.ndarray, k: int) -> None:
    """Any stride: out[t] = id of raw[t * stride : t * stride + k], read pair by pair."""
    limit = 4**k
    for t in range(out.size):
        start = t * stride
        value = 0
        for pair in range(k // 2):
            value = value << 4 | _PAIR_CODES[_load_pair(raw, start + 2 * pair)]
        if k % 2:
            value = value << 2 | _BASE_CODES[raw[start + k - 1]]
        out[t] = value + ID_OFFSET if value < limit else UNK_ID


@numba.njit(nogil=True, inline="always")
def _write_ids_k(raw: np.ndarray, stride: int, out: np.ndarray, k: int) -> None:
    """``_write_ids`` for one k, a constant once inlined."""
    if stride == 1:
        _rolling(raw, out, k)
    else:
        _direct(raw, stride, out, k)


@numba.njit(cache=True, nogil=True)
def _write_ids(raw: np.ndarray, k: int, stride: int, out: np.ndarray) -> None:
    """out[t] = id of the k-mer at raw[t * stride]; raw (n,) uint8, out (T,) int32 (unchecked)."""
    # One branch per k: each call inlines the loops with k as a constant.
    if k == 1:
        _write_ids_k(raw, stride, out, 1)
    elif k == 2:
        _write_ids_k(raw, stride, out, 2)
    elif k == 3:
        _write_ids_k(raw, stride, out, 3)
    elif k == 4:
        _write_ids_k(raw, stride, out, 4)
    elif k == 5:
        _write_ids_k(raw, stride, out, 5)
    elif k == 6:
        _write_ids_k(raw, stride, out, 6)
    elif k == 7:
        _write_ids_k(raw, stride, out, 7)
    else:
        _write_ids_k(raw, stride, out, 8)


@numba.njit(nogil=True, inline="always")
def _n_tokens(n: int, k: int, stride: int) -> int:
    """Number of k-mers of a sequence of n bases."""
    return (n - k) // stride + 1 if n >= k else 0


@numba.njit(cache=True, nogil=True)
def kmer_ids(data: bytes | np.ndarray, k: int, stride: int) -> np.ndarray:
    """Id of every k-mer of one sequence, in a new array (for short sequences: see below).

    Takes ``bytes`` itself and allocates the output inside, so a call costs ~1 µs less than
    building both arrays in Python. Numba's allocator does not ask for transparent huge pages
    (numpy does, from 4 MB), so past about 1M tokens ``write_kmer_ids`` into a numpy array is
    faster: 4 KB page faults on a fresh 40 MB output cost more than the kernel itself.

    Args:
        data: (n,) DNA as bytes or a read-only C-contiguous uint8 array; any case.
        k: k-mer length, 1..8.
        stride: step between k-mer starts, >= 1.

    Returns:
        (T,) int32 ids, T = (n - k) // stride + 1, or 0 when n < k.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(_n_tokens(raw.size, k, stride), dtype=np.int32)
    if out.size:
        _write_ids(raw, k, stride, out)
    return out


@numba.njit(cache=True, nogil=True)
def write_kmer_ids(data: bytes | np.ndarray, k: int, stride: int, out: np.ndarray) -> None:
    """``kmer_ids`` into ``out``: (T,) int32; raises ValueError if T is not the k-mer count."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if out.size != _n_tokens(raw.size, k, stride):
        raise ValueError("write_kmer_ids: out does not hold one slot per k-mer")
    if out.size:
        _write_ids(raw, k, stride, out)


@numba.njit(cache=True, nogil=True)
def write_kmer_ids_many(
    data: bytes, lengths: np.ndarray, k: int, stride: int, out: np.ndarray, token_ends: np.ndarray
) -> None:
    """``write_kmer_ids`` for B sequences stored back to back, in one call.

    Args:
        data: (N,) the B sequences joined, N = sum(lengths).
        lengths: (B,) int64 length of each sequence.
        out: (sum T_b,) int32; sequence b's ids go to ``out[token_ends[b-1]:token_ends[b]]``.
        token_ends: (B,) int64 cumulative k-mer counts; checked (ValueError).
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    start = first = 0
    for b in range(lengths.size):
        if token_ends[b] - first != _n_tokens(lengths[b], k, stride):
            raise ValueError("write_kmer_ids_many: token_ends do not match lengths")
        first = token_ends[b]
        start += lengths[b]
    if start != raw.size or first != out.size:
        raise ValueError("write_kmer_ids_many: lengths or out do not match the data")
    start = first = 0
    for b in range(lengths.size):
        if token_ends[b] > first:
            _write_ids(raw[start : start + lengths[b]], k, stride, out[first : token_ends[b]])
        start += lengths[b]
        first = token_ends[b]
