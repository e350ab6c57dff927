"""Attention patterns behind one interface, chosen by name, each with its options dataclass.

>>> from genomix.attention import build_attention
>>> attn = build_attention("bigbird", {"block_size": 64}, 256, 8)  # (B, L, 256) -> (B, L, 256)
"""

from __future__ import annotations

from genomix.attention.adaptive_span import AdaptiveSpanAttention, AdaptiveSpanOptions
from genomix.attention.base import AttentionOptions, ProjectedAttention
from genomix.attention.bigbird import BigBirdAttention, BigBirdOptions
from genomix.attention.dense import DenseAttention, DenseOptions
from genomix.attention.registry import (
    ATTENTION,
    DEFAULT_ATTENTION,
    attention_options,
    build_attention,
    nest_attention,
    register_attention,
)
from genomix.attention.sparse import FixedAttention, FixedOptions, StridedAttention, StridedOptions

__all__ = [
    "ATTENTION",
    "DEFAULT_ATTENTION",
    "AdaptiveSpanAttention",
    "AdaptiveSpanOptions",
    "AttentionOptions",
    "BigBirdAttention",
    "BigBirdOptions",
    "DenseAttention",
    "DenseOptions",
    "FixedAttention",
    "FixedOptions",
    "ProjectedAttention",
    "StridedAttention",
    "StridedOptions",
    "attention_options",
    "build_attention",
    "nest_attention",
    "register_attention",
]
