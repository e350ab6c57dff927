"""Dense (full) softmax attention via ``scaled_dot_product_attention``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genomix.attention.base import ProjectedAttention
from genomix.attention.blocks import additive_bias
from genomix.attention.masks import full_mask

__all__ = ["DenseAttention"]


class DenseAttention(ProjectedAttention):
    """Every query attends to every real key: O(L^2) compute."""

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
