"""Prediction heads on the encoder: one logit per output (promoter: 1; chromatin: 1 per profile)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.model import Encoder


def _cls(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return hidden[:, 0]


def _mean(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def _max(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).amax(1)


def _mean_max(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return torch.cat((_mean(hidden, weights), _max(hidden, weights)), dim=-1)


# name -> (pooling function: hidden (B, T, D), weights (B, T, 1) -> (B, n * D), n).
# cls: the [CLS] state; mean: the mean over real tokens (a bag of contextual k-mers); max: the
# per-feature maximum over real tokens (is a motif-like feature present anywhere?); mean_max:
# both, concatenated.
POOLINGS = {"cls": (_cls, 1), "mean": (_mean, 1), "max": (_max, 1), "mean_max": (_mean_max, 2)}


class NormedTable(nn.Module):
    """Token ids -> free per-id vectors (N(0, 0.02) at start), LayerNorm-ed: (B, T) -> (B, T, D)."""

    def __init__(self, vocab_size: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, T) long -> (B, T, D) float."""
        return F.embedding(tokens, self.norm(self.weight))


class KmerBag(nn.Module):
    """A bag of k-mers beside the encoder: token ids -> the mean of free per-id vectors.

    A wide path (as in wide-and-deep models) for tasks that hinge on which k-mers a window holds
    rather than where: each id of the tokenizer's vocabulary has its own vector (`table`, a
    NormedTable), and a window's bag is their mean over its real tokens ([CLS] and padding
    excluded). The encoder can then use a base-level stem that learns the masked LM while the
    head keeps a per-k-mer memory.
    """

    def __init__(self, vocab_size: int, d_model: int) -> None:
        super().__init__()
        self.table = NormedTable(vocab_size, d_model)

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """tokens: (B, T) long, [CLS] first; padding_mask: (B, T) bool -> (B, D) float."""
        vectors = self.table(tokens)
        weights = padding_mask.unsqueeze(-1).to(vectors.dtype)
        weights[:, :1] = 0  # [CLS]
        return _mean(vectors, weights)


class SequenceHead(nn.Module):
    """Pooled sequence embedding (and optionally a KmerBag) -> dropout -> linear, one logit per
    output.

    The promoter head has one output (binary); the chromatin head one per profile (DeepSEA-style
    multi-label, trained with a sigmoid/BCE per output). With `kmer_bag_vocab` > 0 the pooled
    encoder state is concatenated with a `KmerBag` of the tokens over that many ids.
    """

    def __init__(
        self,
        d_model: int,
        n_outputs: int,
        *,
        pooling: str = "cls",
        dropout: float = 0.1,
        kmer_bag_vocab: int = 0,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise GenomixError(f"pooling '{pooling}' is not one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.pool, width = POOLINGS[pooling]
        self.kmer_bag = KmerBag(kmer_bag_vocab, d_model) if kmer_bag_vocab else None
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear((width + bool(kmer_bag_vocab)) * d_model, n_outputs)

    def forward(
        self, hidden: torch.Tensor, padding_mask: torch.Tensor, tokens: torch.Tensor
    ) -> torch.Tensor:
        """hidden: (B, T, D), padding_mask: (B, T) bool (True = real), tokens: (B, T) long ->
        logits (B, P)."""
        weights = padding_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.pool(hidden, weights)
        if self.kmer_bag is not None:
            pooled = torch.cat((pooled, self.kmer_bag(tokens, padding_mask).to(pooled.dtype)), -1)
        return self.linear(self.dropout(pooled))


class SequenceClassifier(nn.Module):
    """Encoder + SequenceHead: token ids -> one logit per output.

    With `rc_average`, the logits are the mean of those of the sequence and of its reverse
    complement, so both strands of a sequence score the same (DNA is read on either strand). The
    reverse complement is computed on the tokens (`KmerTokenizer.reverse_complement_tokens`,
    exact for any k and stride): it is the reverse complement of the bases the tokens cover. Those
    are all the bases when `(n - k) % stride == 0` (always for stride 1); otherwise the last
    `(n - k) % stride` bases, which no token covers, take no part on either strand. Both strands
    go through the encoder as one batch of 2B rows (twice the compute and activation memory).

    Args:
        encoder: the trunk.
        n_outputs: P, logits per sequence.
        pooling: "cls" or "mean" (see SequenceHead).
        rc_average: average over both strands; needs `tokenizer`.
        tokenizer: the model's k-mer tokenizer (for the reverse-complement table).
        kmer_bag: add a `KmerBag` of the tokens to the head (see SequenceHead).
    """

    def __init__(
        self,
        encoder: Encoder,
        n_outputs: int,
        *,
        pooling: str = "cls",
        rc_average: bool = False,
        tokenizer: KmerTokenizer | None = None,
        kmer_bag: bool = False,
    ):
        super().__init__()
        self.encoder = encoder
        self.head = SequenceHead(
            encoder.config.d_model,
            n_outputs,
            pooling=pooling,
            dropout=encoder.config.dropout,
            kmer_bag_vocab=encoder.vocab_size if kmer_bag else 0,
        )
        self.rc_average = False
        self.tokenizer: KmerTokenizer | None = None
        self.set_rc_average(rc_average, tokenizer)

    def set_rc_average(self, enabled: bool, tokenizer: KmerTokenizer | None = None) -> None:
        """Turn strand averaging on or off, e.g. on a loaded model (`predict --rc-average`)."""
        if tokenizer is not None:
            if tokenizer.vocab_size != self.encoder.vocab_size:
                raise GenomixError(
                    f"rc_average: {tokenizer} has {tokenizer.vocab_size} tokens, the encoder "
                    f"{self.encoder.vocab_size}; pass the model's own tokenizer"
                )
            self.tokenizer = tokenizer
        if enabled and self.tokenizer is None:
            raise GenomixError("rc_average needs the model's k-mer tokenizer (tokenizer=...)")
        self.rc_average = enabled

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """tokens: (B, T) long, [CLS] first; padding_mask: (B, T) bool -> logits (B, P) float."""
        if not self.rc_average:
            return self.head(self.encoder(tokens, padding_mask), padding_mask, tokens)
        reverse = self.tokenizer.reverse_complement_tokens(
            tokens, padding_mask.sum(dim=1) - 1, offset=1
        )
        both_tokens = torch.cat((tokens, reverse))
        both_padding = torch.cat((padding_mask, padding_mask))
        logits = self.head(self.encoder(both_tokens, both_padding), both_padding, both_tokens)
        forward_strand, reverse_strand = logits.chunk(2)
        return (forward_strand + reverse_strand) / 2
