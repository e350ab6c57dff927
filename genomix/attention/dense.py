"""Dense (full) softmax attention via ``scaled_dot_product_attention``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genomix.attention.base import AttentionOptions, ProjectedAttention
from genomix.attention.blocks import additive_bias
from genomix.attention.masks import full_mask

__all__ = ["DenseAttention", "DenseOptions"]


@dataclass(frozen=True)
class DenseOptions(AttentionOptions):
    """Dense attention has no options of its own."""

    name: str = dataclasses.field(default="dense", init=False)


class DenseAttention(ProjectedAttention):
    """Every query attends to every real key: O(L^2) compute.

    Args:
        dim, heads, dropout, rotary: see ``ProjectedAttention``.
        options: ``DenseOptions`` (none).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        options: DenseOptions | None = None,
        *,
        dropout: float = 0.0,
        rotary: bool = False,
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, rotary=rotary)
        self.options = options or DenseOptions()

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """q, k, v: (B, H, L, Dh); padding_mask: (B, L) bool -> (B, H, L, Dh), 0 at padding."""
        dropout = self.dropout if self.training else 0.0
        if padding_mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        # A float bias (not a bool mask) keeps all-padding rows finite.
        bias = additive_bias(padding_mask[:, None, None, :], q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        return out * padding_mask[:, None, :, None]

    def dense_mask(self, length: int) -> torch.Tensor:
        """(L, L) bool, all True."""
        return full_mask(length)
