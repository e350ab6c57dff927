"""Prediction heads on the encoder: one logit per output (promoter: 1; chromatin: 1 per profile)."""

from __future__ import annotations

import torch
from torch import nn

from genomix.errors import GenomixError
from genomix.model import Encoder

POOLINGS = ("cls", "mean")


class SequenceHead(nn.Module):
    """Pooled sequence embedding -> dropout -> linear, one logit per output.

    The promoter head has one output (binary); the chromatin head one per profile (DeepSEA-style
    multi-label, trained with a sigmoid/BCE per output).
    """

    def __init__(self, d_model: int, n_outputs: int, *, pooling: str = "cls", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise GenomixError(f"pooling '{pooling}' is not one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(d_model, n_outputs)

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """hidden: (B, T, D), padding_mask: (B, T) bool (True = real) -> logits (B, P)."""
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = padding_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return self.linear(self.dropout(pooled))


class SequenceClassifier(nn.Module):
    """Encoder + SequenceHead: token ids -> one logit per output."""

    def __init__(self, encoder: Encoder, n_outputs: int, *, pooling: str = "cls"):
        super().__init__()
        self.encoder = encoder
        self.head = SequenceHead(
            encoder.config.d_model, n_outputs, pooling=pooling, dropout=encoder.config.dropout
        )

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """tokens: (B, T) long, padding_mask: (B, T) bool -> logits (B, P) float."""
        return self.head(self.encoder(tokens, padding_mask), padding_mask)
