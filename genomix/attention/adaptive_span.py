"""Adaptive attention span (Sukhbaatar et al. 2019), bidirectional.

Each head h has a learned span z_h (or, with ``dynamic=True``, a span per query position
z = max_span * sigmoid(Linear(x))). With distance x = |i - j| and ramp R, the soft mask is
``m_z(x) = clamp((R + z - x) / R, 0, 1)``, and 0 beyond ``max_span``. Weights are the
paper's renormalised masked softmax

    w_ij = m_ij exp(s_ij) / sum_k m_ik exp(s_ik),   s = q k^T / sqrt(Dh),

computed as ``softmax(s + log m)`` with log 0 -> the dtype's most negative value (so keys with
m = 0 get exactly zero weight; a row whose mask is all zero, only possible when spans were
pushed below -R and not clamped, gets finite uniform weights). A head sees keys within
about z + R positions. Keys farther than
``min(ceil(max z) + R, max_span)`` have m = 0 and are never computed: the queries are cut
into blocks of ``block_size`` and each block scores one band of keys read as an overlapping
window (``unfold``), so cost is O(L (block_size + 2 span)), not O(L^2).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genomix.attention.base import AttentionOptions, ProjectedAttention
from genomix.attention.blocks import additive_bias, key_validity, pad_length
from genomix.errors import GenomixError

__all__ = ["AdaptiveSpanAttention", "AdaptiveSpanOptions"]


@dataclass(frozen=True)
class AdaptiveSpanOptions(AttentionOptions):
    """Options of ``AdaptiveSpanAttention`` (``model.attention`` with ``name: adaptive_span``).

    Attributes:
        max_span: S, hard maximum distance (>= 1).
        ramp: R, length of the soft ramp (> 0).
        init_span: initial span z in positions, 0 <= init_span <= max_span.
        span_loss_coef: coefficient of the L1 span penalty ``span_penalty()`` (>= 0).
        dynamic: predict the span per head and query position from x.
        block_size: query block length of the banded computation (>= 1).
    """

    name: str = dataclasses.field(default="adaptive_span", init=False)
    max_span: int = 1024
    ramp: float = 32.0
    init_span: float = 256.0
    span_loss_coef: float = 2e-6
    dynamic: bool = False
    block_size: int = 64

    def __post_init__(self) -> None:
        for option in ("max_span", "block_size"):
            if getattr(self, option) < 1:
                raise ValueError(f"adaptive_span: {option}={getattr(self, option)} must be >= 1")
        if self.ramp <= 0:
            raise ValueError(f"adaptive_span: ramp={self.ramp} must be > 0")
        if self.span_loss_coef < 0:
            raise ValueError(f"adaptive_span: span_loss_coef={self.span_loss_coef} must be >= 0")
        if not 0 <= self.init_span <= self.max_span:
            raise ValueError(
                f"adaptive_span: init_span={self.init_span} must be in "
                f"[0, max_span={self.max_span}]"
            )


class AdaptiveSpanAttention(ProjectedAttention):
    """Attention with a learned, soft-masked span per head.

    Args:
        dim, heads, dropout, rotary: see ``ProjectedAttention``.
        options: ``AdaptiveSpanOptions`` (max_span S, ramp R, init_span, span_loss_coef,
            dynamic, block_size); default ``AdaptiveSpanOptions()``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        options: AdaptiveSpanOptions | None = None,
        *,
        dropout: float = 0.0,
        rotary: bool = False,
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, rotary=rotary)
        self.options = options = options or AdaptiveSpanOptions()
        init_span, max_span = options.init_span, options.max_span
        self.max_span = max_span
        self.ramp = options.ramp
        self.span_loss_coef = options.span_loss_coef
        self.dynamic = dynamic = options.dynamic
        self.block_size = options.block_size
        if dynamic:
            self.span_predictor = nn.Linear(dim, heads)
            # Start at init_span: z = S sigmoid(bias) with zero weights.
            nn.init.zeros_(self.span_predictor.weight)
            ratio = min(max(init_span / max_span, 1e-4), 1 - 1e-4)
            nn.init.constant_(self.span_predictor.bias, math.log(ratio / (1 - ratio)))
            self._last_spans: torch.Tensor | None = None  # (H,) mean span of the last forward
        else:
            self.span = nn.Parameter(torch.full((heads,), float(init_span)))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, L, D), padding_mask: (B, L) bool -> (B, L, D)."""
        spans = None
        if self.dynamic:
            spans = self.max_span * torch.sigmoid(self.span_predictor(x)).transpose(1, 2)
            # Per-head mean over the real positions, kept (with its graph) for span_penalty().
            if padding_mask is None:
                self._last_spans = spans.mean(dim=(0, 2))
            else:
                real = padding_mask[:, None, :].to(spans.dtype)
                self._last_spans = (spans * real).sum(dim=(0, 2)) / real.sum(dim=(0, 2)).clamp(
                    min=1.0
                )
        q, k, v = self.split_heads(x)
        attended = self.attend(q, k, v, padding_mask, spans=spans)
        batch, _, length, _ = attended.shape
        return self.out(attended.transpose(1, 2).reshape(batch, length, self.dim))

    def spans(self) -> torch.Tensor:
        """Current spans, (H,) detached; dynamic: mean over the last forward's positions."""
        if not self.dynamic:
            return self.span.detach().clone()
        return self._mean_dynamic_span().detach()

    def span_penalty(self) -> torch.Tensor:
        """L1 span penalty, a scalar: ``span_loss_coef * sum_h z_h``.

        Dynamic: uses the spans of the last forward (call it after forward, same step).
        """
        spans = self._mean_dynamic_span() if self.dynamic else self.span
        return self.span_loss_coef * spans.sum()

    def _mean_dynamic_span(self) -> torch.Tensor:
        if self._last_spans is None:
            raise GenomixError("adaptive_span: dynamic spans exist only after a forward pass")
        return self._last_spans

    @torch.no_grad()
    def clamp_spans_(self) -> None:
        """Keep z in [0, max_span] after an optimizer step (dynamic spans are already bounded)."""
        if not self.dynamic:
            self.span.clamp_(0.0, self.max_span)

    def aux_loss(self) -> torch.Tensor:
        """The L1 span penalty (``span_penalty``), added to the training loss."""
        return self.span_penalty()

    def after_step(self) -> None:
        """Clamp the learned spans after each optimizer step (``clamp_spans_``)."""
        self.clamp_spans_()

    def learned_spans(self) -> list[float]:
        """Current span of each head (``spans``), as floats."""
        return [float(span) for span in self.spans().tolist()]

    def _log_soft_mask(
        self, z: torch.Tensor, spans: torch.Tensor | None, block: int, reach: int, padded: int
    ) -> torch.Tensor:
        """log m over the band, (1, H, 1, b, W) static or (B, H, n, b, W) dynamic."""
        offset = torch.arange(block, device=z.device)
        slot = torch.arange(block + 2 * reach, device=z.device)
        distance = (slot[None, :] - reach - offset[:, None]).abs().to(z.dtype)  # (b, W)
        if spans is None:
            z = z.view(1, -1, 1, 1, 1)
        else:
            batch, heads, _ = spans.shape
            z = pad_length(spans[..., None], padded).view(batch, heads, padded // block, block, 1)
        soft = ((self.ramp + z - distance) / self.ramp).clamp(0.0, 1.0)
        soft = soft * (distance <= self.max_span)
        tiny = torch.finfo(soft.dtype).tiny
        # clamp_min keeps the unused log branch finite so where() passes no NaN gradient.
        return torch.where(soft > 0, soft.clamp_min(tiny).log(), torch.finfo(soft.dtype).min)

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        *,
        spans: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Banded soft-masked attention.

        Args:
            q, k, v: (B, H, L, Dh).
            padding_mask: (B, L) bool, True = real token.
            spans: (B, H, L) per-query spans; required when dynamic, else must be None.

        Returns:
            (B, H, L, Dh), 0 at padded query positions.
        """
        if self.dynamic != (spans is not None):
            raise GenomixError(
                "adaptive_span: pass spans (B, H, L) to attend exactly when dynamic=True"
            )
        batch, heads, length, head_dim = q.shape
        block = self.block_size
        z = self.span if spans is None else spans
        reach = math.ceil(float(z.detach().max().clamp(min=0)) + self.ramp)
        reach = min(reach, self.max_span, max(length - 1, 0))
        n = math.ceil(length / block)
        padded = n * block
        width = block + 2 * reach
        valid = key_validity(padding_mask, batch, length, padded, q.device)
        # Query block I sees keys I*b - reach .. I*b + b - 1 + reach: overlapping windows.
        k_band = F.pad(pad_length(k, padded), (0, 0, reach, reach)).unfold(2, width, block)
        v_band = F.pad(pad_length(v, padded), (0, 0, reach, reach)).unfold(2, width, block)
        band_valid = F.pad(valid, (reach, reach)).unfold(1, width, block)  # (B, n, W)
        q_blocks = (pad_length(q, padded) * head_dim**-0.5).view(batch, heads, n, block, head_dim)
        scores = q_blocks @ k_band + additive_bias(band_valid[:, None, :, None, :], q.dtype)
        weights = (scores + self._log_soft_mask(z, spans, block, reach, padded)).softmax(dim=-1)
        if self.training and self.dropout > 0.0:
            weights = F.dropout(weights, p=self.dropout)
        out = (weights @ v_band.transpose(-1, -2)).reshape(batch, heads, padded, head_dim)
        out = out[:, :, :length]
        if padding_mask is not None:
            out = out * padding_mask[:, None, :, None]
        return out
