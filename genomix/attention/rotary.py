"""Rotary position embedding (RoPE, Su et al. 2021) on queries and keys.

Each pair of channels (c, c + Dh/2) of a head is rotated by the angle ``p * theta_c`` at position
p, with ``theta_c = base ** (-2c / Dh)``. A rotation is orthogonal, and rotating q by ``m theta``
and k by ``n theta`` turns their dot product into a function of ``m - n`` alone, so attention
scores see relative positions only. The pairs are the two halves of the head (GPT-NeoX layout),
not interleaved channels.
"""

from __future__ import annotations

import torch

from genomix.errors import GenomixError

__all__ = ["apply_rotary", "rotary_angles"]

ROTARY_BASE = 10000.0


def rotary_angles(
    positions: torch.Tensor, head_dim: int, *, base: float = ROTARY_BASE
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles, each (L, Dh) float32.

    Args:
        positions: (L,) integer or float positions.
        head_dim: Dh, even.
        base: frequency base; channel pair c turns by ``base ** (-2c / Dh)`` per position.

    Returns:
        cos, sin: (L, Dh) float32; columns c and c + Dh/2 hold the same angle.
    """
    if head_dim % 2:
        raise GenomixError(f"rotary positions need an even head width, got {head_dim}")
    exponents = torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32)
    inverse_frequency = base ** (-exponents / head_dim)  # (Dh/2,)
    angles = positions.to(torch.float32)[:, None] * inverse_frequency[None, :]  # (L, Dh/2)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each channel pair of x by its angle: x (..., L, Dh), cos/sin (L, Dh) -> like x.

    Computed in float32 and returned in x's dtype (bf16 angles would lose the low bits of
    large positions).
    """
    half = x.shape[-1] // 2
    x32 = x.float()
    rotated = torch.cat((-x32[..., half:], x32[..., :half]), dim=-1)
    return (x32 * cos + rotated * sin).to(x.dtype)
