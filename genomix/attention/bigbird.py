"""BigBird block-sparse attention (Zaheer et al. 2020, ITC form), bidirectional.

Per query block of ``block_size`` positions the key set is: the first ``global_blocks``
blocks, a centred window of ``window_blocks`` blocks, and ``random_blocks`` random blocks.
Global query blocks attend to every key. Unlike Hugging Face's BigBird, no key block is ever
counted twice: random blocks are drawn without replacement from the blocks that are neither
global nor in the query block's window, and window blocks that are global are dropped from
the window (they are already shared keys). When fewer than ``random_blocks`` candidates exist,
all candidates are taken.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from genomix.attention.base import AttentionOptions, ProjectedAttention
from genomix.attention.blocks import additive_bias, key_validity, pad_length
from genomix.attention.kernels import gathered_block_attention
from genomix.attention.masks import bigbird_mask

__all__ = ["BigBirdAttention", "BigBirdOptions", "bigbird_layout", "sample_random_blocks"]


@dataclass(frozen=True)
class BigBirdOptions(AttentionOptions):
    """Options of ``BigBirdAttention`` (config.yaml ``model.attention`` with ``name: bigbird``).

    Attributes:
        block_size: b, positions per block (>= 1).
        global_blocks: g, leading blocks that attend to and are attended by all (>= 0; block 0
            holds [CLS]; 0 = no global blocks, only window and random ones).
        window_blocks: w, odd, centred sliding window in blocks.
        random_blocks: r, random key blocks per query block (>= 0).
        resample_random: False: the random blocks are a deterministic function of
            (random_seed, number of blocks). True: a new draw each forward in training mode,
            from a generator seeded at init; eval mode uses the fixed draw.
        random_seed: seed of the random-block draw (>= 0); encoder layer i draws with
            ``random_seed + i`` (``for_layer``).
    """

    name: str = dataclasses.field(default="bigbird", init=False)
    block_size: int = 64
    global_blocks: int = 1
    window_blocks: int = 3
    random_blocks: int = 3
    resample_random: bool = False
    random_seed: int = 0

    def __post_init__(self) -> None:
        for option in ("block_size", "window_blocks"):
            if getattr(self, option) < 1:
                raise ValueError(f"bigbird: {option}={getattr(self, option)} must be >= 1")
        for option in ("global_blocks", "random_blocks", "random_seed"):
            if getattr(self, option) < 0:
                raise ValueError(f"bigbird: {option}={getattr(self, option)} must be >= 0")
        if self.window_blocks % 2 == 0:
            raise ValueError(f"bigbird: window_blocks={self.window_blocks} must be odd")

    def for_layer(self, layer: int) -> BigBirdOptions:
        """Each layer draws its own random blocks: ``random_seed + layer``."""
        return dataclasses.replace(self, random_seed=self.random_seed + layer)

    def recompute_conflict(self) -> str:
        """A recomputed forward would draw other random blocks when they are resampled."""
        if self.resample_random:
            return "model.attention.resample_random would draw new random blocks"
        return ""


def sample_random_blocks(
    n_blocks: int,
    *,
    global_blocks: int,
    window_blocks: int,
    random_blocks: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Draw random key blocks per query block, without replacement and without duplicates.

    Candidates for query block I are the blocks J with J >= global_blocks and
    |I - J| > window_blocks // 2. Global query blocks get no random blocks.

    Returns:
        (nb, random_blocks) long, -1 where fewer candidates than ``random_blocks`` exist.
    """
    blocks = torch.arange(n_blocks)
    excluded = (blocks[None, :] < global_blocks) | (blocks[:, None] < global_blocks)
    excluded |= (blocks[:, None] - blocks[None, :]).abs() <= window_blocks // 2
    # Uniform keys; excluded blocks get 2.0 so the r smallest keys are a uniform r-subset.
    keys = torch.rand(n_blocks, n_blocks, generator=generator).masked_fill(excluded, 2.0)
    taken = min(random_blocks, n_blocks)
    values, picks = keys.topk(taken, dim=1, largest=False)
    table = torch.full((n_blocks, random_blocks), -1, dtype=torch.long)
    table[:, :taken] = torch.where(values < 2.0, picks, -1)
    return table


def bigbird_layout(
    random_table: torch.Tensor, *, global_blocks: int, window_blocks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Key blocks (global + window + random) of each non-global query block.

    Args:
        random_table: (nb, r) long from ``sample_random_blocks``.

    Returns:
        key_blocks: (nb - g, g + w + r) long block indices, clamped into range.
        slot_valid: (nb - g, g + w + r) bool; False for window slots outside the sequence or
            on a global block (already a global slot), and for empty random slots.
    """
    n_blocks = random_table.shape[0]
    queries = torch.arange(global_blocks, n_blocks)
    half = window_blocks // 2
    globals_ = torch.arange(global_blocks).expand(len(queries), global_blocks)
    window = queries[:, None] + torch.arange(-half, half + 1)[None, :]
    window_valid = (window >= global_blocks) & (window < n_blocks)
    randoms = random_table[global_blocks:]
    key_blocks = torch.cat([globals_, window, randoms], dim=1).clamp(0, n_blocks - 1)
    slot_valid = torch.cat(
        [torch.ones_like(globals_, dtype=torch.bool), window_valid, randoms >= 0], 1
    )
    return key_blocks, slot_valid


class BigBirdAttention(ProjectedAttention):
    """BigBird ITC block-sparse attention.

    Args:
        dim, heads, dropout, rotary: see ``ProjectedAttention``.
        options: ``BigBirdOptions`` (block_size b, global_blocks g, window_blocks w,
            random_blocks r, resample_random, random_seed); default ``BigBirdOptions()``.

    Global query blocks attend densely (``scaled_dot_product_attention``, g b rows). The other
    blocks use ``kernels.gathered_block_attention``: one gather of their g + w + r key blocks
    and batched matmuls, in chunks of a few MB. Memory is O(L (g + w + r) b) in training (the
    saved weights) and O(L) plus one chunk in inference; no (L, L) tensor is ever built.

    Short inputs, where each query block sees at least ``DENSE_FRACTION`` of all key blocks,
    take one ``scaled_dot_product_attention`` under the same pattern as an (L, L) mask instead:
    the same result (same layout, same random draw), from a fused kernel that beats gathering
    there (bench/attention.py; on 2 CPU cores 4.7x at 5 blocks and 1.8x at 16, while the
    gathered kernel wins from 32 blocks). Not while training with dropout on the CPU, where
    SDPA's dropout leaves the fused kernel. Hugging Face's BigBird switches to full attention
    below (5 + 2r) blocks instead, which changes what the model sees.
    """

    DENSE_FRACTION = 1 / 3

    def __init__(
        self,
        dim: int,
        heads: int,
        options: BigBirdOptions | None = None,
        *,
        dropout: float = 0.0,
        rotary: bool = False,
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, rotary=rotary)
        self.options = options = options or BigBirdOptions()
        self.block_size = options.block_size
        self.global_blocks = options.global_blocks
        self.window_blocks = options.window_blocks
        self.random_blocks = options.random_blocks
        self.random_seed = options.random_seed
        self.resample_random = options.resample_random
        self._generator = torch.Generator().manual_seed(options.random_seed)
        self._layouts: dict[tuple[int, str], tuple[torch.Tensor, ...]] = {}

    def fixed_random_table(self, n_blocks: int) -> torch.Tensor:
        """The fixed random draw for ``n_blocks`` blocks: (nb, r) long, -1 = empty."""
        state = np.random.SeedSequence([self.random_seed, n_blocks]).generate_state(1)[0]
        return self._draw(n_blocks, torch.Generator().manual_seed(int(state)))

    def _draw(self, n_blocks: int, generator: torch.Generator) -> torch.Tensor:
        return sample_random_blocks(
            n_blocks,
            global_blocks=self.global_blocks,
            window_blocks=self.window_blocks,
            random_blocks=self.random_blocks,
            generator=generator,
        )

    def random_table(self, n_blocks: int) -> torch.Tensor:
        """The draw the next forward uses: resampled in training if asked, else fixed."""
        if self.resample_random and self.training:
            return self._draw(n_blocks, self._generator)
        return self.fixed_random_table(n_blocks)

    def _layout(self, n_blocks: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(key_blocks, slot_valid) on device; the fixed one is cached per (nb, device)."""
        cacheable = not (self.resample_random and self.training)
        key = (n_blocks, str(device))
        if cacheable and key in self._layouts:
            return self._layouts[key]
        key_blocks, slot_valid = bigbird_layout(
            self.random_table(n_blocks),
            global_blocks=self.global_blocks,
            window_blocks=self.window_blocks,
        )
        layout = (key_blocks.to(device), slot_valid.to(device))
        if cacheable:
            self._layouts[key] = layout
        return layout

    def dense_mask(self, length: int) -> torch.Tensor:
        """(L, L) bool: the fixed (eval-mode) pattern over the L real positions."""
        return bigbird_mask(
            length,
            block_size=self.block_size,
            global_blocks=self.global_blocks,
            window_blocks=self.window_blocks,
            random_table=self.fixed_random_table(math.ceil(length / self.block_size)),
        )

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """q, k, v: (B, H, L, Dh); padding_mask: (B, L) bool -> (B, H, L, Dh), 0 at padding."""
        batch, heads, length, head_dim = q.shape
        block = self.block_size
        n_blocks = math.ceil(length / block)
        padded = n_blocks * block
        n_global = min(self.global_blocks, n_blocks)
        dropout = self.dropout if self.training else 0.0
        slots = self.global_blocks + self.window_blocks + self.random_blocks
        # On the CPU, SDPA with dropout leaves its fused kernel (7x slower at 1k tokens).
        fused = (self.dropout == 0.0 or not self.training) or q.is_cuda
        if fused and min(slots, n_blocks) >= self.DENSE_FRACTION * n_blocks:
            return self._attend_masked(q, k, v, padding_mask, n_blocks)
        q, k, v = (pad_length(t, padded) for t in (q, k, v))
        valid = key_validity(padding_mask, batch, length, padded, q.device)

        # Global query blocks: dense rows over every key (g * b rows, small).
        n_rows = n_global * block
        needs_bias = padding_mask is not None or padded != length
        global_bias = additive_bias(valid[:, None, None, :], q.dtype) if needs_bias else None
        parts = [
            F.scaled_dot_product_attention(
                q[:, :, :n_rows], k, v, attn_mask=global_bias, dropout_p=dropout
            )
        ]

        n_queries = n_blocks - n_global
        if n_queries > 0:
            key_blocks, slot_valid = self._layout(n_blocks, q.device)
            n_keys = key_blocks.shape[1] * block
            slot_keys = slot_valid[..., None].expand(-1, -1, block).reshape(n_queries, n_keys)
            if needs_bias:
                local_valid = valid.view(batch, n_blocks, block)[:, key_blocks]
                local_valid = local_valid.view(batch, 1, n_queries, 1, n_keys) & slot_keys[:, None]
            else:
                local_valid = slot_keys.view(1, 1, n_queries, 1, n_keys)
            blocked = (batch, heads, n_blocks, block, head_dim)
            q_local = q[:, :, n_rows:] * head_dim**-0.5
            out = gathered_block_attention(
                q_local.view(batch, heads, n_queries, block, head_dim),
                k.view(blocked),
                v.view(blocked),
                key_blocks,
                additive_bias(local_valid, q.dtype),
                dropout=dropout,
            )
            parts.append(out.view(batch, heads, n_queries * block, head_dim))
        out = torch.cat(parts, dim=2)[:, :, :length]
        if padding_mask is not None:
            out = out * padding_mask[:, None, :, None]
        return out

    def _attend_masked(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        padding_mask: torch.Tensor | None,
        n_blocks: int,
    ) -> torch.Tensor:
        """`attend` as one masked SDPA over (L, L): q, k, v (B, H, L, Dh) -> (B, H, L, Dh)."""
        length = q.shape[2]
        n_global = min(self.global_blocks, n_blocks)
        allowed = torch.zeros(n_blocks, n_blocks, dtype=torch.bool, device=q.device)
        allowed[:n_global] = True
        allowed[:, :n_global] = True
        if n_blocks > n_global:
            key_blocks, slot_valid = self._layout(n_blocks, q.device)
            rows = torch.arange(n_global, n_blocks, device=q.device)[:, None].expand_as(key_blocks)
            allowed[rows[slot_valid], key_blocks[slot_valid]] = True
        block_of = torch.arange(length, device=q.device) // self.block_size
        allowed = allowed[block_of][:, block_of]  # (L, L)
        if padding_mask is not None:
            allowed = allowed & padding_mask[:, None, None, :]  # (B, 1, L, L)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=additive_bias(allowed, q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        if padding_mask is not None:
            out = out * padding_mask[:, None, :, None]
        return out
