"""The shared attention interface: q/k/v projection (+ RoPE), ``attend``, output projection,
the training hooks every family has, and the base of every family's options dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from genomix.attention.rotary import apply_rotary, rotary_angles
from genomix.errors import GenomixError

__all__ = ["AttentionOptions", "ProjectedAttention", "option_fields"]


@dataclass(frozen=True)
class AttentionOptions:
    """Base of each family's frozen options (config.yaml `model.attention`, minus its `name`).

    A subclass declares every option of its family once, with its one default, and checks the
    values in ``__post_init__`` (ValueError naming the option). It redeclares ``name``, not an
    option but the family's registry name, with that name as its default: so
    ``dataclasses.asdict`` gives the config form ``{"name": ..., option: value, ...}``.
    """

    name: str = dataclasses.field(default="", init=False)

    def for_layer(self, layer: int) -> AttentionOptions:
        """The options of encoder layer ``layer`` (0-based); the same for every layer here."""
        del layer
        return self

    def recompute_conflict(self) -> str:
        """Why a forward pass recomputed in the backward pass (activation checkpointing) would
        differ from the first one, as a sentence ending; "" when it would not."""
        return ""


def option_fields(options: type[AttentionOptions]) -> list[dataclasses.Field]:
    """The options of a family's options class: its fields but ``name``."""
    return [field for field in dataclasses.fields(options) if field.init]


class ProjectedAttention(nn.Module):
    """Base class: owns the projections; subclasses implement ``attend``.

    Args:
        dim: model width D, divisible by ``heads``.
        heads: number of heads H; head width Dh = D / H.
        dropout: dropout probability on attention weights, applied in training mode only.
        rotary: rotate q and k by their positions (RoPE, ``rotary.py``) before ``attend``, so
            scores depend on relative positions; needs an even head width.
    """

    def __init__(self, dim: int, heads: int, *, dropout: float = 0.0, rotary: bool = False) -> None:
        super().__init__()
        if heads < 1 or dim < 1 or dim % heads:
            raise GenomixError(f"attention: dim={dim} must be a positive multiple of heads={heads}")
        if not 0.0 <= dropout < 1.0:
            raise GenomixError(f"attention: dropout={dropout} must be in [0, 1)")
        self.dim = dim
        self.heads = heads
        if rotary and (dim // heads) % 2:
            raise GenomixError(
                f"attention: rotary positions need an even head width, got dim/heads={dim // heads}"
            )
        self.dropout = dropout
        self.rotary = rotary
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Project, attend, project back.

        Args:
            x: (B, L, D) float.
            padding_mask: (B, L) bool, True = real token; padded keys get no weight and
                padded query positions output the output-projection bias (finite).

        Returns:
            (B, L, D).
        """
        q, k, v = self.split_heads(x)
        attended = self.attend(q, k, v, padding_mask)
        batch, _, length, _ = attended.shape
        return self.out(attended.transpose(1, 2).reshape(batch, length, self.dim))

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fused q/k/v projection, then RoPE on q and k if ``rotary``.

        x: (B, L, D) -> three (B, H, L, Dh); position p is index p of x (padding is on the right).
        """
        batch, length, _ = x.shape
        head_dim = self.dim // self.heads
        qkv = self.qkv(x).view(batch, length, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.rotary:
            cos, sin = rotary_angles(torch.arange(length, device=x.device), head_dim)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        return q, k, v

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The attention operation alone. q, k, v: (B, H, L, Dh) -> (B, H, L, Dh)."""
        raise NotImplementedError

    def aux_loss(self) -> torch.Tensor:
        """A scalar the training loss adds (a regulariser of the family); 0 here."""
        return torch.zeros((), device=self.out.weight.device)

    def after_step(self) -> None:
        """Called after every optimizer step (e.g. to keep learned parameters in range); no-op."""

    def learned_spans(self) -> list[float]:
        """Learned attention span of each head, for families that learn one; empty here."""
        return []
