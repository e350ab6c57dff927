"""k-mer tokenizer: DNA bytes -> k-mer ids, vectorised with numpy (no Python loop per base).

Vocabulary: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0..4), then the 4**k k-mers in
lexicographic order (A < C < G < T), so a k-mer's id is ``5 + its base-4 value``. A k-mer that
contains anything other than A/C/G/T (either case) is ``[UNK]``.

Stride 1 gives overlapping k-mers (DNABERT); stride k gives non-overlapping k-mers
(Nucleotide Transformer). A sequence of ``n`` bases gives ``(n - k) // stride + 1`` tokens (none
when ``n < k``); with ``(n - k) % stride != 0`` the last bases are not covered by any token.

How ``encode`` works (exact, no Python loop per base; ``bench/kmers.py`` times it):

- codes: each byte -> its 2-bit code by ``bytes.translate`` (4 = not ACGT), or on long
  sequences 8 bytes at a time in uint64 lanes, with an exact ACGT check (``_codes_if_acgt``).
- values: with stride 1, sums of shifted slices of uint8 2- and 4-mers (at most three pieces);
  with even k and even stride, bases paired in uint16 lanes by one multiply, then each k-mer's
  pairs gathered from one uint64 word by a second multiply; a few non-overlapping k-mers: one
  (T, k) @ (k,) matmul; otherwise Horner over k strided slices.
- [UNK]: the not-ACGT flag, ORed over the same windows (equal to a cumulative-sum window test
  and much faster than ``np.cumsum``); only computed when a sequence has such a byte.
- Long sequences go in passes of ``_CHUNK_BASES`` bases so that temporaries stay in cache.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genomix.errors import GenomixError

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BASES = "ACGT"

# bytes.translate table (a C loop, several times faster than a numpy lookup): the 2-bit code
# of A/C/G/T in either case; 4 for any other byte.
_CODE = bytearray(b"\x04" * 256)
for _i, _b in enumerate(BASES.encode()):
    _CODE[_b] = _CODE[_b + 32] = _i
_CODE_TABLE = bytes(_CODE)

# k-mers of 1, 2 and 4 bases fit in a uint8. With stride 1, 2- and 4-mers are built once for
# the whole sequence and each k-mer value joins at most three of them (fewer, narrower passes
# than k passes over int32). With a larger stride, the k single-base slices are cheaper.
_PIECES = {1: (1,), 2: (2,), 3: (2, 1), 4: (4,), 5: (4, 1), 6: (4, 2), 7: (4, 2, 1), 8: (4, 4)}

# Bases per pass over a long sequence: a pass's temporaries (~9 bytes per base at stride 1)
# then fit in a 2 MB L2 cache.
_CHUNK_BASES = 1 << 17
# Up to this many non-overlapping k-mers, one integer matmul beats the ufunc path.
_MATMUL_TOKENS = 1024

SeqLike = str | bytes | np.ndarray


def _as_bytes(seq: SeqLike) -> bytes:
    """Sequence as bytes: str, bytes or a (n,) uint8 array."""
    if isinstance(seq, np.ndarray):
        if seq.dtype != np.uint8 or seq.ndim != 1:
            raise GenomixError(f"sequence array must be 1-D uint8, got {seq.ndim}-D {seq.dtype}")
        return seq.tobytes()
    if isinstance(seq, str):
        # Non-ASCII characters become '?', which is not a base and so gives [UNK].
        return seq.encode("ascii", errors="replace")
    return bytes(seq)


# Byte-lane masks for _codes_if_acgt.
_LANES_01 = np.uint64(0x0101010101010101)
_LANES_03 = np.uint64(0x0303030303030303)
_LANES_41 = np.uint64(0x4141414141414141)
_LANES_D9 = np.uint64(0xD9D9D9D9D9D9D9D9)


def _codes_if_acgt(raw: bytes, start: int, stop: int) -> np.ndarray | None:
    """2-bit codes of ``raw[start:stop]`` (and up to 7 bytes after), or None.

    None when those bytes hold anything but A/C/G/T in either case, or run past the end of
    ``raw``; the caller then uses ``bytes.translate``. This computes the same codes 8 bytes at
    a time in uint64 lanes, ~1.5x faster than ``translate`` on long sequences.

    Returns:
        (8 * ceil((stop - start) / 8),) uint8 codes 0..3 (A, C, G, T).
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


def _is_integer(value: object) -> bool:
    """True for Python and numpy integers (not bool)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class KmerTokenizer:
    """Map DNA to k-mer token ids and back.

    Args:
        k: k-mer length, 1..8 (the vocabulary has 5 + 4**k entries, at most 65,541).
        stride: step between k-mer starts, >= 1 (1 = overlapping, k = non-overlapping).
    """

    pad_id = 0
    unk_id = 1
    cls_id = 2
    sep_id = 3
    mask_id = 4
    n_special = 5

    def __init__(self, k: int, stride: int = 1) -> None:
        if not _is_integer(k) or not 1 <= k <= 8:
            raise GenomixError(f"k-mer size k={k!r} is out of range (expected an integer 1..8)")
        if not _is_integer(stride) or stride < 1:
            raise GenomixError(f"k-mer stride={stride!r} is invalid (expected an integer >= 1)")
        k, stride = int(k), int(stride)
        self.k = k
        self.stride = stride
        # stride 1: (piece length n, base offset in the k-mer, 4**n) per piece of a k-mer.
        pieces = _PIECES[k]
        offsets = np.cumsum((0, *pieces[:-1])).tolist()
        self._plan = [(n, o, 4**n) for n, o in zip(pieces, offsets, strict=True)]
        self._mer_lengths = (2, 4)[: (k > 1) + (k > 3)]  # m-mers the pieces are cut from
        # stride k: place values of the k bases, for the matmul path of short sequences.
        self._weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int32) if stride == k > 1 else None
        # Tokens per pass of ``encode``; a multiple of 8 so that each pass starts on a uint64.
        self._chunk = max(8, _CHUNK_BASES // stride // 8 * 8)
        self._max_id = self.n_special + 4**k - 1
        pairable = k % 2 == 0 and stride % 2 == 0 and sys.byteorder == "little"
        magic = sum(2 ** (20 * i + 80 - 10 * k) for i in range(k // 2))
        self._pair_magic = np.uint64(magic) if pairable else None
        self._rc_table = self._build_rc_table()
        self._rc_table_torch = torch.from_numpy(self._rc_table)

    def __repr__(self) -> str:
        return f"KmerTokenizer(k={self.k}, stride={self.stride})"

    @property
    def vocab_size(self) -> int:
        """Number of ids: 5 specials + 4**k k-mers."""
        return self.n_special + 4**self.k

    @property
    def tokens(self) -> list[str]:
        """The vocabulary, index = id: specials, then k-mers in lexicographic order."""
        kmers = ("".join(p) for p in itertools.product(BASES, repeat=self.k))
        return [*SPECIAL_TOKENS, *kmers]

    @property
    def rc_table(self) -> np.ndarray:
        """(vocab_size,) int64: id -> id of its reverse-complement k-mer; specials map to self."""
        return self._rc_table

    def tokens_for_length(self, n_bases: int) -> int:
        """Number of tokens ``encode`` gives for ``n_bases`` bases."""
        return 0 if n_bases < self.k else (n_bases - self.k) // self.stride + 1

    def bases_for_tokens(self, n_tokens: int) -> int:
        """Fewest bases that give ``n_tokens`` tokens (``(n_tokens - 1) * stride + k``; 0 for 0)."""
        return 0 if n_tokens <= 0 else (n_tokens - 1) * self.stride + self.k

    def encode(self, seq: SeqLike) -> np.ndarray:
        """Tokenize one sequence.

        Args:
            seq: DNA as str, bytes or a (n,) uint8 array; case is ignored.

        Returns:
            (T,) int32 ids, T = tokens_for_length(n); a k-mer with a non-ACGT byte is unk_id.
        """
        raw = seq if type(seq) is bytes else _as_bytes(seq)
        k, stride = self.k, self.stride
        if len(raw) < k:
            return np.zeros(0, dtype=np.int32)
        n_tok = (len(raw) - k) // stride + 1
        out = np.empty(n_tok, dtype=np.int32)
        if n_tok <= self._chunk:
            self._encode_chunk(raw, out)
            return out
        # Long sequences go in chunks whose temporaries stay in L2 and are recycled by malloc:
        # whole-sequence temporaries cost more in page faults than in arithmetic.
        for first in range(0, n_tok, self._chunk):
            part = out[first : first + self._chunk]
            start = first * stride  # a multiple of 8, as self._chunk is
            stop = start + self.bases_for_tokens(part.size)
            codes = _codes_if_acgt(raw, start, stop)
            if codes is None:  # a non-ACGT byte, or the sequence's last chunk
                self._encode_chunk(raw[start:stop], part)
            else:
                self._write_ids(self._values(codes, part.size), part)
        return out

    def _encode_chunk(self, raw: bytes, out: np.ndarray) -> None:
        """Write the ids of the (T,) = out.shape k-mers starting in ``raw`` to ``out`` (int32)."""
        text = raw.translate(_CODE_TABLE)
        codes = np.frombuffer(text, dtype=np.uint8)  # (n,) 2-bit codes; 4 = not ACGT
        if 4 not in text:  # memchr: far cheaper than codes.max() on short records
            if self._weights is not None and out.size <= _MATMUL_TOKENS:
                # Few non-overlapping k-mers: one (T, k) @ (k,) integer matmul costs less than
                # the ~8 ufunc calls of the general path (whose per-call overhead dominates).
                rows = codes[: out.size * self.k].reshape(out.size, self.k)
                np.matmul(rows, self._weights, out=out)
                out += self.n_special
                return
            self._write_ids(self._values(codes, out.size), out)
            return
        # A k-mer is UNK when any of its bases is; OR-ing the flags over the same windows as
        # the values equals a cumulative-sum window test without np.cumsum (~20x slower here).
        bad = self._windows_any(codes > 3, out.size)
        self._write_ids(self._values(codes & 3, out.size), out)
        np.copyto(out, self.unk_id, where=bad)

    def _write_ids(self, values: np.ndarray, out: np.ndarray) -> None:
        """out[:] = values + n_special; values: (T,) uint8, uint16 or int32 from ``_values``."""
        if (
            values.itemsize < 4
            and out.size > 4096
            and values.flags.writeable
            and self._max_id < 256**values.itemsize
        ):
            # Adding in the narrow dtype, then a plain widening copy, is ~20% faster on long
            # chunks than a widening add (and slower on short ones: one more call).
            values += self.n_special
            np.copyto(out, values)
        else:
            np.add(values, self.n_special, out=out, dtype=np.int32)

    def _values(self, codes: np.ndarray, n_tok: int) -> np.ndarray:
        """Base-4 value of every k-mer.

        Args:
            codes: (n,) uint8 codes 0..3.
            n_tok: T = tokens_for_length(n).

        Returns:
            (T,) values in 0 .. 4**k - 1: uint8 (k <= 4) or uint16, int32 on the pair path.
        """
        k, stride = self.k, self.stride
        dtype = np.uint8 if k <= 4 else np.uint16
        if stride == 1:
            mers = self._overlapping_mers(codes, add=True)
            columns = [(mers[n][o : o + n_tok], width) for n, o, width in self._plan]
        elif self._pair_magic is not None:  # k and stride even, little-endian host
            return self._values_from_pairs(codes, n_tok)
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

    def _values_from_pairs(self, codes: np.ndarray, n_tok: int) -> np.ndarray:
        """``_values`` for even k and even stride, with two integer multiplies in all.

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
        words = np.ndarray((n_tok,), dtype="<u8", buffer=pairs, strides=(self.stride,))
        values = words * self._pair_magic
        values >>= np.uint64(64 - 2 * self.k)
        return values.view(np.int32)[::2]  # the low halves

    def _windows_any(self, flags: np.ndarray, n_tok: int) -> np.ndarray:
        """(n,) bool per base -> (T,) bool: the k-mer holds a flagged base."""
        if self.stride == 1:
            mers = self._overlapping_mers(flags, add=False)
            pieces = [mers[n][o : o + n_tok] for n, o, _ in self._plan]
        else:
            span = (n_tok - 1) * self.stride + 1
            pieces = [flags[j : j + span : self.stride] for j in range(self.k)]
        out = pieces[0].copy()
        for piece in pieces[1:]:
            out |= piece
        return out

    def _overlapping_mers(self, per_base: np.ndarray, *, add: bool) -> dict[int, np.ndarray]:
        """m -> (n - m + 1,) values (add=True: uint8 base-4) or ORed flags of every m-mer.

        Builds m = 1 and the m in ``self._mer_lengths`` (2, or 2 and 4); m <= 4 fits a uint8.
        """
        mers = {1: per_base}
        for m in self._mer_lengths:
            half = mers[m // 2]
            head, tail = half[: -(m // 2)], half[m // 2 :]
            if add:  # multiply, not left_shift: numpy's uint8 left shift is ~5x slower
                mer = np.multiply(head, 4 ** (m // 2))
                mer += tail
            else:
                mer = head | tail
            mers[m] = mer
        return mers

    def encode_many(self, seqs: Sequence[SeqLike]) -> list[np.ndarray]:
        """``[encode(s) for s in seqs]`` in one vectorised pass (fast for many short sequences).

        The sequences are joined, each padded to a multiple of the stride so that every
        sequence's k-mers fall on the joint stride grid; k-mers across a junction are dropped.

        Args:
            seqs: B sequences (str, bytes or uint8 arrays).

        Returns:
            B arrays of (T_b,) int32 ids, views into one buffer.
        """
        raws = [s if type(s) is bytes else _as_bytes(s) for s in seqs]
        k, stride = self.k, self.stride
        if stride == 1:
            joined = b"".join(raws)
        else:  # pad with A, not N: junction k-mers are dropped, and ACGT keeps the fast path
            pads = [b"A" * p for p in range(stride)]
            joined = b"".join(
                itertools.chain.from_iterable((r, pads[-len(r) % stride]) for r in raws)
            )
        ids = self.encode(joined)
        lengths = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws))
        slots = -(-lengths // stride)  # grid slots of each sequence and its padding
        firsts = np.cumsum(slots) - slots  # token index of each sequence's first k-mer
        lasts = firsts + np.where(lengths >= k, (lengths - k) // stride + 1, 0)
        return [ids[a:b] for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True)]

    def encode_batch(
        self, seqs: Sequence[SeqLike], *, add_cls: bool = False, pad_to: int | None = None
    ) -> np.ndarray:
        """Tokenize several sequences into one right-padded matrix.

        Args:
            seqs: B sequences (any mix of str, bytes, uint8 arrays).
            add_cls: put ``cls_id`` before each row's tokens.
            pad_to: row length T; default the longest row. A longer row raises GenomixError.

        Returns:
            (B, T) int64 ids, padded with ``pad_id``.
        """
        encoded = self.encode_many(seqs)
        lengths = [e.size + int(add_cls) for e in encoded]
        width = max(lengths, default=0) if pad_to is None else pad_to
        if lengths and max(lengths) > width:
            raise GenomixError(
                f"encode_batch: a sequence needs {max(lengths)} tokens but pad_to={pad_to}"
            )
        out = np.full((len(encoded), width), self.pad_id, dtype=np.int64)
        offset = int(add_cls)
        if add_cls:
            out[:, 0] = self.cls_id
        for row, ids in enumerate(encoded):
            out[row, offset : offset + ids.size] = ids
        return out

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Rebuild the sequence from ids (inverse of ``encode`` where it is defined).

        PAD, CLS and SEP are skipped. Each base is taken from any k-mer token covering it; a
        base covered only by UNK or MASK tokens decodes as ``N``. Requires stride <= k (a larger
        stride skips bases). If ``(n - k) % stride != 0`` the uncovered tail is not returned.

        Args:
            ids: (T,) ids.

        Returns:
            upper-case sequence of ``bases_for_tokens(T')`` bases, T' = ids left after skipping.
        """
        if self.stride > self.k:
            raise GenomixError(
                f"cannot decode with stride={self.stride} > k={self.k}: "
                "bases between k-mers are not in the tokens"
            )
        arr = np.asarray(ids, dtype=np.int64).ravel()
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise GenomixError(f"decode: ids must be in 0..{self.vocab_size - 1}")
        arr = arr[(arr != self.pad_id) & (arr != self.cls_id) & (arr != self.sep_id)]
        if arr.size == 0:
            return ""
        out = np.full(self.bases_for_tokens(arr.size), ord("N"), dtype=np.uint8)
        known = arr >= self.n_special
        values = arr[known] - self.n_special
        starts = np.flatnonzero(known) * self.stride
        letters = np.frombuffer(BASES.encode(), dtype=np.uint8)
        for j in range(self.k):
            digit = (values >> (2 * (self.k - 1 - j))) & 3
            out[starts + j] = letters[digit]
        return out.tobytes().decode("ascii")

    def ids_to_tokens(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """(T,) ids -> T token strings (e.g. ``'ACGTAC'`` or ``'[UNK]'``)."""
        vocab = self.tokens
        return [vocab[i] for i in np.asarray(ids, dtype=np.int64).ravel()]

    def reverse_complement_ids(self, ids: np.ndarray) -> np.ndarray:
        """Tokens of the reverse complement, computed on the tokens alone.

        Reverses the order and complements each k-mer. Equal to ``encode(revcomp(seq))`` when
        ``(len(seq) - k) % stride == 0`` (always for stride 1); otherwise the uncovered tail
        of ``seq`` would become the head of the reverse complement, so it differs.

        Args:
            ids: (T,) ids of real tokens (no padding or [CLS]).

        Returns:
            (T,) ids, same dtype.
        """
        arr = np.asarray(ids)
        return self._rc_table[arr[::-1]].astype(arr.dtype, copy=False)

    def reverse_complement_tokens(
        self, ids: torch.Tensor, lengths: torch.Tensor | None = None, *, offset: int = 0
    ) -> torch.Tensor:
        """Batched ``reverse_complement_ids`` on a padded LongTensor.

        Args:
            ids: (B, T) int64; row b holds real tokens at ``offset .. offset + lengths[b] - 1``.
            lengths: (B,) number of real tokens per row; default: the non-PAD count minus offset.
            offset: leading positions left in place (1 when each row starts with [CLS]).

        Returns:
            (B, T) int64: the real tokens reversed and complemented; other positions unchanged.
        """
        if lengths is None:
            lengths = (ids != self.pad_id).sum(dim=1) - offset
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)  # (1, T)
        lengths = lengths.to(ids.device).unsqueeze(1)  # (B, 1)
        real = (pos >= offset) & (pos < offset + lengths)
        source = torch.where(real, 2 * offset + lengths - 1 - pos, pos)  # (B, T)
        flipped = torch.gather(ids, 1, source)
        table = self._rc_table_torch.to(ids.device)
        return torch.where(real, table[flipped], ids)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON ``{"k", "stride", "tokens"}``, atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        payload = {"k": self.k, "stride": self.stride, "tokens": self.tokens}
        tmp.write_text(json.dumps(payload) + "\n")
        os.replace(tmp, path)
        logger.debug("wrote %s vocabulary to %s", self, path)

    @classmethod
    def load(cls, path: str | Path) -> KmerTokenizer:
        """Read a vocabulary written by ``save``; the token list must be the expected one."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
            tok = cls(int(payload["k"]), int(payload["stride"]))
            tokens = payload["tokens"]
        except FileNotFoundError:
            raise GenomixError(f"{path}: vocabulary file not found") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise GenomixError(f"{path}: not a k-mer vocabulary ({err})") from None
        if tokens != tok.tokens:
            raise GenomixError(f"{path}: token list does not match k={tok.k} (edited or corrupt)")
        return tok

    def _build_rc_table(self) -> np.ndarray:
        """(vocab_size,) int64 id -> reverse-complement id."""
        values = np.arange(4**self.k, dtype=np.int64)
        rc = np.zeros_like(values)
        for j in range(self.k):
            # digit j (most significant first) complemented lands at position k-1-j.
            digit = (values >> (2 * (self.k - 1 - j))) & 3
            rc += (3 - digit) << (2 * j)
        specials = np.arange(self.n_special, dtype=np.int64)
        return np.concatenate((specials, rc + self.n_special))
