"""Sparse Transformer patterns (Child et al. 2019), bidirectional encoder versions.

Both patterns are computed block-wise over blocks of ``sparse_stride`` positions: each query block
scores a few local key blocks plus a shared set of summary columns, with one softmax over
both (see ``blocks.local_shared_attend``). A summary key that is already a local key of a
query is masked out of the summary part, so no key is counted twice. Cost is
O(L (3 l + L / l)) for strided and O(L (l + c L / l)) for fixed, never (L, L).

``recompute=True`` wraps the computation in ``torch.utils.checkpoint`` (non-reentrant): the
(B, H, L, keys) score and weight tensors are recomputed in the backward pass instead of being
stored, as in the paper.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from genomix.attention.base import AttentionOptions, ProjectedAttention
from genomix.attention.blocks import (
    additive_bias,
    key_validity,
    local_shared_attend,
    pad_length,
)
from genomix.attention.masks import fixed_mask, strided_mask

__all__ = ["FixedAttention", "FixedOptions", "StridedAttention", "StridedOptions"]


@dataclass(frozen=True)
class StridedOptions(AttentionOptions):
    """Options of ``StridedAttention`` (config.yaml ``model.attention`` with ``name: strided``).

    Attributes:
        sparse_stride: l, band half-width and summary period (>= 1).
        recompute: recompute attention in the backward pass to save memory.
    """

    name: str = dataclasses.field(default="strided", init=False)
    sparse_stride: int = 128
    recompute: bool = False

    def __post_init__(self) -> None:
        if self.sparse_stride < 1:
            raise ValueError(f"{self.name}: sparse_stride={self.sparse_stride} must be >= 1")


@dataclass(frozen=True)
class FixedOptions(AttentionOptions):
    """Options of ``FixedAttention`` (config.yaml ``model.attention`` with ``name: fixed``).

    Attributes:
        sparse_stride: l, block length (>= 1).
        sparse_summary: c, summary positions at the end of each block, 1 <= c <= l.
        recompute: recompute attention in the backward pass to save memory.
    """

    name: str = dataclasses.field(default="fixed", init=False)
    sparse_stride: int = 128
    sparse_summary: int = 8
    recompute: bool = False

    def __post_init__(self) -> None:
        if self.sparse_stride < 1:
            raise ValueError(f"{self.name}: sparse_stride={self.sparse_stride} must be >= 1")
        if not 1 <= self.sparse_summary <= self.sparse_stride:
            raise ValueError(
                f"fixed: sparse_summary={self.sparse_summary} must be in "
                f"[1, sparse_stride={self.sparse_stride}]"
            )


class _BlockPattern(ProjectedAttention):
    """Shared plumbing: padding to whole strides, validity, optional recomputation."""

    def __init__(
        self,
        dim: int,
        heads: int,
        options: StridedOptions | FixedOptions,
        *,
        dropout: float,
        rotary: bool,
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, rotary=rotary)
        self.options = options
        self.sparse_stride = options.sparse_stride
        self.recompute = options.recompute

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """q, k, v: (B, H, L, Dh); padding_mask: (B, L) bool -> (B, H, L, Dh), 0 at padding."""
        batch, _, length, _ = q.shape
        padded = math.ceil(length / self.sparse_stride) * self.sparse_stride
        valid = key_validity(padding_mask, batch, length, padded, q.device)
        q, k, v = (pad_length(t, padded) for t in (q, k, v))
        if self.recompute and torch.is_grad_enabled():
            out = checkpoint(self._blocks, q, k, v, valid, use_reentrant=False)
        else:
            out = self._blocks(q, k, v, valid)
        out = out[:, :, :length]
        if padding_mask is not None:
            out = out * padding_mask[:, None, :, None]
        return out

    def _blocks(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """Padded q, k, v: (B, H, Lp, Dh), valid: (B, Lp) bool -> (B, H, Lp, Dh)."""
        raise NotImplementedError


class StridedAttention(_BlockPattern):
    """Strided pattern: local band ``|i - j| < stride`` plus summary columns.

    The summary columns are the keys ``j`` with ``j % stride == stride - 1`` (the last
    position of every stride), seen by every query.

    Args:
        dim, heads, dropout, rotary: see ``ProjectedAttention``.
        options: ``StridedOptions`` (sparse_stride l, recompute); default ``StridedOptions()``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        options: StridedOptions | None = None,
        *,
        dropout: float = 0.0,
        rotary: bool = False,
    ) -> None:
        super().__init__(dim, heads, options or StridedOptions(), dropout=dropout, rotary=rotary)

    def dense_mask(self, length: int) -> torch.Tensor:
        """(L, L) bool strided pattern."""
        return strided_mask(length, stride=self.sparse_stride)

    def _blocks(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        batch, heads, padded, head_dim = q.shape
        l = self.sparse_stride  # noqa: E741 - the paper's name
        n = padded // l
        # Local keys of block I: blocks I-1, I, I+1, read as overlapping windows of a view.
        k_band = F.pad(k, (0, 0, l, l)).unfold(2, 3 * l, l).transpose(-1, -2)
        v_band = F.pad(v, (0, 0, l, l)).unfold(2, 3 * l, l).transpose(-1, -2)
        band_valid = F.pad(valid, (l, l)).unfold(1, 3 * l, l)  # (B, n, 3l)
        offset = torch.arange(l, device=q.device)
        slot = torch.arange(3 * l, device=q.device)
        in_band = (slot[None, :] - l - offset[:, None]).abs() < l  # (l, 3l)
        local_bias = additive_bias((band_valid[:, :, None, :] & in_band)[:, None], q.dtype)
        # Summary key J sits at J*l + l - 1; mask it where it already lies in the band.
        position = torch.arange(padded, device=q.device).view(n, l, 1)
        summary_pos = torch.arange(n, device=q.device) * l + l - 1
        outside_band = (position - summary_pos).abs() >= l  # (n, l, n)
        shared_bias = additive_bias(
            (valid[:, None, None, l - 1 :: l] & outside_band)[:, None], q.dtype
        )
        out = local_shared_attend(
            (q * head_dim**-0.5).view(batch, heads, n, l, head_dim),
            k_band,
            v_band,
            local_bias,
            k[:, :, l - 1 :: l],
            v[:, :, l - 1 :: l],
            shared_bias,
            dropout=self.dropout if self.training else 0.0,
        )
        return out.reshape(batch, heads, padded, head_dim)


class FixedAttention(_BlockPattern):
    """Fixed pattern: attend within your block plus the last ``summary`` positions of every block.

    Args:
        dim, heads, dropout, rotary: see ``ProjectedAttention``.
        options: ``FixedOptions`` (sparse_stride l, sparse_summary c, recompute); default
            ``FixedOptions()``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        options: FixedOptions | None = None,
        *,
        dropout: float = 0.0,
        rotary: bool = False,
    ) -> None:
        options = options or FixedOptions()
        super().__init__(dim, heads, options, dropout=dropout, rotary=rotary)
        self.sparse_summary = options.sparse_summary

    def dense_mask(self, length: int) -> torch.Tensor:
        """(L, L) bool fixed pattern."""
        return fixed_mask(length, block_size=self.sparse_stride, summary=self.sparse_summary)

    def _blocks(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        batch, heads, padded, head_dim = q.shape
        l, c = self.sparse_stride, self.sparse_summary  # noqa: E741 - the paper's names
        n = padded // l
        k_blocks = k.view(batch, heads, n, l, head_dim)
        v_blocks = v.view(batch, heads, n, l, head_dim)
        local_bias = additive_bias(valid.view(batch, 1, n, 1, l), q.dtype)
        # The summary of a query's own block is already local: mask it in the shared part.
        blocks = torch.arange(n, device=q.device)
        other_block = (blocks[:, None, None] != blocks[None, :, None]).expand(n, n, c)
        summary_valid = valid.view(batch, n, l)[:, None, :, l - c :] & other_block
        shared_bias = additive_bias(summary_valid.reshape(batch, 1, n, 1, n * c), q.dtype)
        out = local_shared_attend(
            (q * head_dim**-0.5).view(batch, heads, n, l, head_dim),
            k_blocks,
            v_blocks,
            local_bias,
            k_blocks[:, :, :, l - c :].reshape(batch, heads, n * c, head_dim),
            v_blocks[:, :, :, l - c :].reshape(batch, heads, n * c, head_dim),
            shared_bias,
            dropout=self.dropout if self.training else 0.0,
        )
        return out.reshape(batch, heads, padded, head_dim)
