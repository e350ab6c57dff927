"""k-mer tokenizer: DNA bytes -> k-mer ids, vectorised with numpy (no Python loop per base).

Vocabulary: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0..4), then the 4**k k-mers in
lexicographic order (A < C < G < T), so a k-mer's id is ``5 + its base-4 value``. A k-mer that
contains anything other than A/C/G/T (either case) is ``[UNK]``.

Stride 1 gives overlapping k-mers (DNABERT); stride k gives non-overlapping k-mers
(Nucleotide Transformer). A sequence of ``n`` bases gives ``(n - k) // stride + 1`` tokens (none
when ``n < k``); with ``(n - k) % stride != 0`` the last bases are not covered by any token.

``encode`` is exact and vectorised (no Python loop per base); the arithmetic (2-bit codes,
passes over long sequences, k-mer values, [UNK] detection) lives in ``genomix.kmer_codes``.
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
from genomix.kmer_codes import BASES, chunk_tokens_for, plan_kmers, write_kmer_ids

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

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
        self._plan = plan_kmers(k, stride, id_offset=self.n_special, unk_id=self.unk_id)
        self._chunk = chunk_tokens_for(stride)  # tokens per pass of ``encode``; tests shrink it
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
        if len(raw) < self.k:
            return np.zeros(0, dtype=np.int32)
        out = np.empty((len(raw) - self.k) // self.stride + 1, dtype=np.int32)
        write_kmer_ids(raw, out, self._plan, chunk_tokens=self._chunk)
        return out

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
