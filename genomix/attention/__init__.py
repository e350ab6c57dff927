"""Attention patterns behind one interface, chosen by name.

>>> from genomix.attention import build_attention
>>> attn = build_attention("bigbird", 256, 8, block_size=64)   # x: (B, L, 256) -> (B, L, 256)
"""

from __future__ import annotations

import inspect

from torch import nn

from genomix.attention.adaptive_span import AdaptiveSpanAttention
from genomix.attention.bigbird import BigBirdAttention
from genomix.attention.dense import DenseAttention
from genomix.attention.sparse import FixedAttention, StridedAttention
from genomix.errors import GenomixError

__all__ = [
    "ATTENTION",
    "AdaptiveSpanAttention",
    "BigBirdAttention",
    "DenseAttention",
    "FixedAttention",
    "StridedAttention",
    "attention_options",
    "build_attention",
]

ATTENTION: dict[str, type[nn.Module]] = {
    "dense": DenseAttention,
    "bigbird": BigBirdAttention,
    "strided": StridedAttention,
    "fixed": FixedAttention,
    "adaptive_span": AdaptiveSpanAttention,
}


def attention_options(name: str) -> list[str]:
    """The keyword options ``build_attention(name, ...)`` accepts, e.g. ``["dropout", ...]``."""
    params = inspect.signature(ATTENTION[name].__init__).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def build_attention(name: str, dim: int, heads: int, **options: object) -> nn.Module:
    """Build the attention module registered as ``name``.

    Args:
        name: one of ``ATTENTION`` ("dense", "bigbird", "strided", "fixed", "adaptive_span").
        dim: model width D; heads: number of heads H (D % H == 0).
        options: keyword options of that class (see ``attention_options(name)``).

    Returns:
        a module mapping x (B, L, D), padding_mask (B, L) bool | None -> (B, L, D).

    Raises:
        GenomixError: unknown name, unknown option, or an invalid option value.
    """
    if name not in ATTENTION:
        raise GenomixError(
            f"attention: unknown name {name!r} (expected one of {', '.join(ATTENTION)})"
        )
    valid = attention_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise GenomixError(
            f"attention {name}: unknown option(s) {', '.join(unknown)} (valid: {', '.join(valid)})"
        )
    return ATTENTION[name](dim, heads, **options)
