"""k-mer token embeddings: a free table, a factorized (convolutional) stem, or both.

A k-mer token stands for k bases. `table` gives each of the 4**k k-mers a free vector (BERT,
DNABERT). `factorized` builds a k-mer's vector from its bases: the sum of k learned
(position-in-k-mer, base) vectors, which is a width-k convolution over one-hot bases, with
4 * k vectors in place of 4**k. Overlapping k-mers that share bases then share parameters, and
the tied masked-LM decoder (logits = hidden @ matrix().T) scores a k-mer as the sum of k
per-position base scores, so it learns which bases the visible neighbours imply. `both` adds the
two: the stem's base-level sharing plus a free per-k-mer correction.

The special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) always have free vectors; a k-mer holding N
is [UNK].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer

EMBEDDINGS = ("table", "factorized", "both")


def kmer_length(vocab_size: int) -> int:
    """k of a k-mer vocabulary of `vocab_size` ids (5 specials + 4**k k-mers)."""
    n_kmers = vocab_size - KmerTokenizer.n_special
    k = 1
    while 4**k < n_kmers:
        k += 1
    if 4**k != n_kmers:
        raise GenomixError(
            f"a vocabulary of {vocab_size} ids is not {KmerTokenizer.n_special} specials + 4**k "
            "k-mers"
        )
    return k


def kmer_base_one_hot(k: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(4**k, 4 * k) float: row v has a 1 at 4 * j + b when base j of k-mer v is b (A0 C1 G2 T3).

    k-mer ids follow `KmerTokenizer`: lexicographic, the first base most significant.
    """
    values = torch.arange(4**k, device=device)
    one_hot = torch.zeros(4**k, 4 * k, device=device)
    for position in range(k):
        digit = (values >> (2 * (k - 1 - position))) & 3
        one_hot[values, 4 * position + digit] = 1.0
    return one_hot


class KmerEmbedding(nn.Module):
    """Token ids -> vectors by one of EMBEDDINGS.

    Parameters (names kept stable for saved models): `weight` (V, D), the free table (`table`,
    `both`); `base_vectors` (4k, D), the (position, base) vectors, and `special` (5, D), the
    specials' vectors (`factorized`; under `both` the table holds the specials).
    """

    def __init__(self, vocab_size: int, d_model: int, mode: str = "table") -> None:
        super().__init__()
        if mode not in EMBEDDINGS:
            raise GenomixError(f"model.embedding={mode!r} is not one of {', '.join(EMBEDDINGS)}")
        self.mode = mode
        self.vocab_size = vocab_size
        self.d_model = d_model
        if mode in ("table", "both"):
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * 0.02)
        if mode in ("factorized", "both"):
            k = kmer_length(vocab_size)
            # Each k-mer sums k vectors: scale so that the sum has the table's std of 0.02.
            self.base_vectors = nn.Parameter(torch.randn(4 * k, d_model) * 0.02 / k**0.5)
            self.k = k
            # Not a buffer: derived from k alone, and built where the parameters are when first
            # needed (loaders that build modules on the meta device, as transformers does,
            # would leave a non-persistent buffer without data).
            self._one_hot: torch.Tensor | None = None
            if mode == "factorized":
                n_special = KmerTokenizer.n_special
                self.special = nn.Parameter(torch.randn(n_special, d_model) * 0.02)

    def one_hot(self) -> torch.Tensor:
        """(4**k, 4 * k) `kmer_base_one_hot(k)` on the parameters' device and dtype."""
        device = self.base_vectors.device
        if self._one_hot is None or self._one_hot.device != device:
            self._one_hot = kmer_base_one_hot(self.k, device)
        return self._one_hot.to(self.base_vectors.dtype)

    def matrix(self) -> torch.Tensor:
        """The (V, D) embedding of every id, also the tied masked-LM decoder's weight."""
        if self.mode == "table":
            return self.weight
        kmers = self.one_hot() @ self.base_vectors  # (4**k, D)
        if self.mode == "factorized":
            return torch.cat((self.special, kmers))
        return self.weight + F.pad(kmers, (0, 0, KmerTokenizer.n_special, 0))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, T) long -> (B, T, D) float."""
        return F.embedding(tokens, self.matrix())
