"""k-mer tokenizer: DNA bytes -> k-mer ids with a compiled kernel (one pass, no copy of bytes).

Vocabulary: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0..4), then the 4**k k-mers in
lexicographic order (A < C < G < T), so a k-mer's id is ``5 + its base-4 value``. A k-mer that
contains anything other than A/C/G/T (either case) is ``[UNK]``.

Stride 1 gives overlapping k-mers (DNABERT); stride k gives non-overlapping k-mers
(Nucleotide Transformer). A sequence of ``n`` bases gives ``(n - k) // stride + 1`` tokens (none
when ``n < k``); with ``(n - k) % stride != 0`` the last bases are not covered by any token.

``encode`` takes str, bytes (or any bytes-like object) or a uint8 array; bytes and arrays are
read in place, a str costs one ASCII encode. The loops live in ``genomix.kmer_codes`` (numba).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genomix.errors import GenomixError
from genomix.kmer_codes import (
    BASES,
    ID_OFFSET,
    UNK_ID,
    kmer_ids,
    write_kmer_ids,
    write_kmer_ids_many,
)

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Sequences of this many bases or more get their ids in a numpy array (numpy asks Linux for
# transparent huge pages); shorter ones in the compiled kernel's own, cheaper per call. See
# genomix.kmer_codes.kmer_ids.
_LONG_SEQUENCE = 1 << 20

SeqLike = str | bytes | bytearray | memoryview | np.ndarray


def _as_buffer(seq: SeqLike) -> bytes | np.ndarray:
    """Sequence as bytes or a (n,) read-only C-contiguous uint8 array; copies only a str.

    Arrays are made read-only views so that the compiled kernel has one signature for them
    (the caller's array keeps its own flags).
    """
    if type(seq) is bytes:
        return seq
    if isinstance(seq, str):
        # Non-ASCII characters become '?', which is not a base and so gives [UNK].
        return seq.encode("ascii", errors="replace")
    if isinstance(seq, np.ndarray):
        if seq.dtype != np.uint8 or seq.ndim != 1:
            raise GenomixError(f"sequence array must be 1-D uint8, got {seq.ndim}-D {seq.dtype}")
        array = np.ascontiguousarray(seq).view()
    else:
        array = np.frombuffer(seq, dtype=np.uint8)  # bytearray, memoryview, mmap: no copy
    array.flags.writeable = False
    return array


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
    unk_id = UNK_ID
    cls_id = 2
    sep_id = 3
    mask_id = 4
    n_special = ID_OFFSET

    def __init__(self, k: int, stride: int = 1) -> None:
        if not _is_integer(k) or not 1 <= k <= 8:
            raise GenomixError(f"k-mer size k={k!r} is out of range (expected an integer 1..8)")
        if not _is_integer(stride) or stride < 1:
            raise GenomixError(f"k-mer stride={stride!r} is invalid (expected an integer >= 1)")
        k, stride = int(k), int(stride)
        self.k = k
        self.stride = stride
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
            seq: DNA as str, bytes, a bytes-like object or a (n,) uint8 array; case is ignored.

        Returns:
            (T,) int32 ids, T = tokens_for_length(n); a k-mer with a non-ACGT byte is unk_id.
        """
        data = seq if type(seq) is bytes else _as_buffer(seq)
        if len(data) < _LONG_SEQUENCE:
            return kmer_ids(data, self.k, self.stride)
        out = np.empty(self.tokens_for_length(len(data)), dtype=np.int32)
        write_kmer_ids(data, self.k, self.stride, out)
        return out

    def encode_many(self, seqs: Sequence[SeqLike]) -> list[np.ndarray]:
        """``[encode(s) for s in seqs]`` in one compiled call (fast for many short sequences).

        Args:
            seqs: B sequences (str, bytes, bytes-like or uint8 arrays).

        Returns:
            B arrays of (T_b,) int32 ids, views into one buffer.
        """
        parts = [s if type(s) is bytes else _as_buffer(s) for s in seqs]
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        counts = np.where(lengths >= self.k, (lengths - self.k) // self.stride + 1, 0)
        token_ends = np.cumsum(counts)
        out = np.empty(int(token_ends[-1]) if parts else 0, dtype=np.int32)
        # One copy into a joint buffer (bytes.join takes arrays too) costs less than B calls.
        write_kmer_ids_many(b"".join(parts), lengths, self.k, self.stride, out, token_ends)
        return [out[a:b] for a, b in itertools.pairwise([0, *token_ends.tolist()])]

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
        except (KeyError, TypeError, ValueError) as err:  # JSON and UTF-8 errors are ValueErrors
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
