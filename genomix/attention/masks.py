"""Pure (L, L) attention masks: the oracle every sparse pattern is tested against.

Every function builds the full pattern over the ``L`` real positions, so it costs O(L^2)
memory: use it for tests and ``dense_mask``, never in a forward pass. ``True`` at
``[i, j]`` means query ``i`` may attend to key ``j``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "bigbird_block_mask",
    "bigbird_mask",
    "fixed_mask",
    "full_mask",
    "masked_attention",
    "span_soft_mask",
    "strided_mask",
]


def full_mask(length: int) -> torch.Tensor:
    """Dense pattern. Returns (L, L) bool, all True."""
    return torch.ones(length, length, dtype=torch.bool)


def bigbird_block_mask(
    n_blocks: int, *, global_blocks: int, window_blocks: int, random_table: torch.Tensor
) -> torch.Tensor:
    """BigBird ITC pattern at block level: O(nb^2), so it also serves very long sequences.

    Block ``I`` may see block ``J`` when either is one of the first ``global_blocks`` blocks,
    when ``|I - J| <= window_blocks // 2``, or when ``J`` is in ``random_table[I]``.

    Args:
        n_blocks: nb, the number of blocks.
        random_table: (nb, r) long, random key blocks per query block, -1 = empty slot.

    Returns:
        (nb, nb) bool.
    """
    blocks = torch.arange(n_blocks)
    allowed = (blocks[:, None] < global_blocks) | (blocks[None, :] < global_blocks)
    allowed |= (blocks[:, None] - blocks[None, :]).abs() <= window_blocks // 2
    rows, slots = (random_table >= 0).nonzero(as_tuple=True)
    allowed[rows, random_table[rows, slots]] = True
    return allowed


def bigbird_mask(
    length: int,
    *,
    block_size: int,
    global_blocks: int,
    window_blocks: int,
    random_table: torch.Tensor,
) -> torch.Tensor:
    """BigBird ITC pattern over blocks of ``block_size`` positions (``bigbird_block_mask``).

    Args:
        length: L, the number of real positions (the last block may be partial).
        random_table: (nb, r) long, random key blocks per query block, -1 = empty slot,
            with nb = ceil(L / block_size).

    Returns:
        (L, L) bool.
    """
    allowed = bigbird_block_mask(
        math.ceil(length / block_size),
        global_blocks=global_blocks,
        window_blocks=window_blocks,
        random_table=random_table,
    )
    block_of = torch.arange(length) // block_size
    return allowed[block_of][:, block_of]


def strided_mask(length: int, *, stride: int) -> torch.Tensor:
    """Bidirectional strided Sparse Transformer pattern.

    Query ``i`` sees key ``j`` when ``|i - j| < stride`` (local band) or when
    ``j % stride == stride - 1`` (the summary column that ends each stride). Returns (L, L) bool.
    """
    pos = torch.arange(length)
    band = (pos[:, None] - pos[None, :]).abs() < stride
    return band | (pos[None, :] % stride == stride - 1)


def fixed_mask(length: int, *, block_size: int, summary: int) -> torch.Tensor:
    """Bidirectional fixed Sparse Transformer pattern.

    Query ``i`` sees key ``j`` when both lie in the same block of ``block_size`` positions, or
    when ``j`` is one of the last ``summary`` positions of its block
    (``j % block_size >= block_size - summary``). Returns (L, L) bool.
    """
    pos = torch.arange(length)
    same_block = (pos[:, None] // block_size) == (pos[None, :] // block_size)
    return same_block | (pos[None, :] % block_size >= block_size - summary)


def span_soft_mask(length: int, spans: torch.Tensor, *, ramp: float, max_span: int) -> torch.Tensor:
    """Adaptive-span soft mask ``m_z(x) = clamp((R + z - x) / R, 0, 1)`` with ``x = |i - j|``,
    and 0 for ``x > max_span`` (keys beyond the maximum span are never computed).

    Args:
        spans: (H,) per-head span z, or (B, H, L) per query position (dynamic span).

    Returns:
        (H, L, L) float, or (B, H, L, L) for per-position spans.
    """
    pos = torch.arange(length, device=spans.device)
    distance = (pos[:, None] - pos[None, :]).abs().to(spans.dtype)
    z = spans[:, None, None] if spans.dim() == 1 else spans[..., None]
    soft = ((ramp + z - distance) / ramp).clamp(0.0, 1.0)
    return soft * (distance <= max_span)


def masked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    soft_mask: torch.Tensor | None = None,
    padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Dense softmax attention restricted by a mask: the reference for every pattern.

    Weights are ``softmax(q k^T / sqrt(Dh))`` over the allowed, non-padded keys. With
    ``soft_mask`` m they are multiplied by it and renormalised: ``w = m p / sum(m p)``.
    Outputs at padded query positions are zero.

    Args:
        q, k, v: (B, H, L, Dh) float.
        mask: (L, L) bool, True = allowed; None = all allowed.
        soft_mask: broadcastable to (B, H, L, L) float in [0, 1].
        padding_mask: (B, L) bool, True = real token.

    Returns:
        (B, H, L, Dh).
    """
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device)
    if mask is not None:
        allowed = allowed & mask.to(q.device)
    allowed = allowed.expand(scores.shape)
    if padding_mask is not None:
        allowed = allowed & padding_mask[:, None, None, :]
    if soft_mask is not None:
        allowed = allowed & (soft_mask > 0)
        scores = scores + soft_mask.clamp_min(torch.finfo(soft_mask.dtype).tiny).log()
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    out = probs @ v
    if padding_mask is not None:
        out = out * padding_mask[:, None, :, None]
    return out
