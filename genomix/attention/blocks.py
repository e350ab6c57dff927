"""Block helpers shared by the sparse patterns: padding, additive biases, joint softmax.

Every sparse pattern splits the (padded) sequence into query blocks and, per query block,
attends to a small set of *local* keys (gathered per block) plus a set of *shared* keys
that every query block sees (global blocks, summary columns). Both sets are scored, the
scores are concatenated and normalised by one softmax, so no (L, L) tensor ever exists.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["additive_bias", "key_validity", "local_shared_attend", "pad_length"]


def pad_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad dim -2 of x: (..., L, Dh) -> (..., length, Dh)."""
    extra = length - x.shape[-2]
    return x if extra == 0 else F.pad(x, (0, 0, 0, extra))


def key_validity(
    padding_mask: torch.Tensor | None, batch: int, length: int, padded: int, device: torch.device
) -> torch.Tensor:
    """Which padded key positions are real. Returns (B, padded) bool; positions >= L are False."""
    valid = torch.zeros(batch, padded, dtype=torch.bool, device=device)
    if padding_mask is None:
        valid[:, :length] = True
    else:
        valid[:, :length] = padding_mask.to(device=device, dtype=torch.bool)
    return valid


def additive_bias(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool -> additive score bias: 0 where allowed, the dtype's most negative value elsewhere.

    A finite value (not -inf) keeps rows with no allowed key finite (uniform weights); such
    rows only occur at padded or internal-pad query positions, which callers zero or crop.
    """
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


def local_shared_attend(
    q: torch.Tensor,
    k_local: torch.Tensor,
    v_local: torch.Tensor,
    bias_local: torch.Tensor,
    k_shared: torch.Tensor | None,
    v_shared: torch.Tensor | None,
    bias_shared: torch.Tensor | None,
    *,
    dropout: float,
) -> torch.Tensor:
    """One softmax over per-block local keys and keys shared by all query blocks.

    Args:
        q: (B, H, N, Bq, Dh), already multiplied by the softmax scale.
        k_local, v_local: (B, H, N, Kl, Dh), keys/values of each query block.
        bias_local: additive bias broadcastable to (B, H, N, Bq, Kl).
        k_shared, v_shared: (B, H, Ks, Dh) or None.
        bias_shared: additive bias broadcastable to (B, H, N, Bq, Ks), or None.
        dropout: probability on the attention weights (0 outside training).

    Returns:
        (B, H, N, Bq, Dh).
    """
    batch, heads, n_blocks, block, head_dim = q.shape
    scores = q @ k_local.transpose(-1, -2) + bias_local
    n_local = scores.shape[-1]
    if k_shared is not None:
        flat_q = q.reshape(batch, heads, n_blocks * block, head_dim)
        shared = (flat_q @ k_shared.transpose(-1, -2)).view(batch, heads, n_blocks, block, -1)
        scores = torch.cat([scores, shared + bias_shared], dim=-1)
    probs = scores.softmax(dim=-1)
    if dropout > 0.0:
        probs = F.dropout(probs, p=dropout)
    out = probs[..., :n_local] @ v_local
    if k_shared is not None:
        p_shared = probs[..., n_local:].reshape(batch, heads, n_blocks * block, -1)
        out = out + (p_shared @ v_shared).view(out.shape)
    return out
