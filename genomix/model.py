"""The encoder: token embeddings, pre-LayerNorm transformer blocks, an MLM head.

Read top to bottom: `EncoderConfig` -> `TransformerBlock` -> `Encoder` -> `MLMHead` ->
`MaskedLanguageModel`. The attention inside each block is built from `EncoderConfig.attention`,
the options dataclass of one family of `genomix.attention.ATTENTION`; this module never branches
on the family. Positions are learned absolute embeddings added to the tokens, or rotary (RoPE),
applied to q and k inside every attention (`genomix.attention.rotary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from genomix.attention import AttentionOptions, attention_options, build_attention
from genomix.embedding import EMBEDDINGS, KmerEmbedding
from genomix.errors import GenomixError

POSITIONS = ("learned", "rotary")


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of the encoder and options of its attention pattern (config.yaml section `model`).

    `preset` names a set of sizes in `PRESETS`. It is applied where a config is read from keys
    (config.yaml, the CLI, `genomix.config.config_from_mapping`): the preset fills every key not
    given, keys given override it. `EncoderConfig(...)` itself takes its arguments as they are,
    and a saved model's config holds every resolved size.
    """

    PRESETS: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "none": {},
        # The demo encoder of config.yaml: seconds per step on a CPU.
        "tiny": {
            "d_model": 64,
            "n_layers": 2,
            "n_heads": 4,
            "d_ff": 256,
            "max_tokens": 1024,
            "dropout": 0.0,
            "positions": "rotary",
        },
        # BigBird-ITC as pretrained on DNA (Zaheer et al. 2020, genomics appendix): BERT-base
        # sizes, 4096 tokens, blocks of 64 with 2 global, 3 window and 3 random blocks.
        "base": {
            "attention": {
                "name": "bigbird",
                "block_size": 64,
                "global_blocks": 2,
                "window_blocks": 3,
                "random_blocks": 3,
            },
            "d_model": 768,
            "n_layers": 12,
            "n_heads": 12,
            "d_ff": 3072,
            "max_tokens": 4096,
        },
    }

    preset: str = "none"
    # The attention family and its options; a mapping {"name": family, option: value, ...} or
    # a family name is turned into that family's options dataclass on construction.
    attention: AttentionOptions = field(default_factory=lambda: attention_options({}))
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    max_tokens: int = 1024
    positions: str = "learned"
    embedding: str = "table"
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.attention, AttentionOptions):
            given = self.attention
            values = {"name": given} if isinstance(given, str) else given
            object.__setattr__(self, "attention", attention_options(values))
        if self.preset not in self.PRESETS:
            raise GenomixError(
                f"model.preset={self.preset!r} is not one of {', '.join(self.PRESETS)}"
            )
        if self.positions not in POSITIONS:
            raise GenomixError(
                f"model.positions={self.positions!r} is not one of {', '.join(POSITIONS)}"
            )
        if self.embedding not in EMBEDDINGS:
            raise GenomixError(
                f"model.embedding={self.embedding!r} is not one of {', '.join(EMBEDDINGS)}"
            )
        if self.d_model % self.n_heads:
            raise GenomixError(
                f"model.d_model={self.d_model} is not a multiple of model.n_heads={self.n_heads}"
            )
        if self.positions == "rotary" and (self.d_model // self.n_heads) % 2:
            raise GenomixError(
                f"model.positions=rotary needs an even head width; d_model/n_heads = "
                f"{self.d_model}/{self.n_heads} is odd"
            )
        conflict = self.attention.recompute_conflict()
        if self.activation_checkpointing and conflict:
            raise GenomixError(
                "model.activation_checkpointing recomputes every block in the backward pass, "
                f"where {conflict}; turn one of them off"
            )


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + Attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: EncoderConfig, layer: int) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.d_model)
        self.attention = build_attention(
            config.attention.name,
            config.attention.for_layer(layer),
            config.d_model,
            config.n_heads,
            dropout=config.dropout,
            rotary=config.positions == "rotary",
        )
        self.mlp_norm = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff),
            nn.GELU(),
            nn.Linear(config.d_ff, config.d_model),
            nn.Dropout(config.dropout),
        )
        self.residual_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B, T, D) float, padding_mask: (B, T) bool, True = real token -> (B, T, D)."""
        x = x + self.residual_dropout(self.attention(self.attention_norm(x), padding_mask))
        return x + self.mlp(self.mlp_norm(x))


class Encoder(nn.Module):
    """Token ids -> contextual embeddings.

    With `activation_checkpointing`, each block's activations are recomputed in the backward pass
    instead of stored (`torch.utils.checkpoint`, non-reentrant): memory per block drops to its
    input, for about one more forward pass of compute. Gradients are the same (dropout masks are
    replayed from the saved RNG state).
    """

    def __init__(self, config: EncoderConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.token_embedding = KmerEmbedding(vocab_size, config.d_model, config.embedding)
        # Rotary positions live in the attention (q, k); learned ones are added to the tokens.
        self.position_embedding = (
            nn.Embedding(config.max_tokens, config.d_model)
            if config.positions == "learned"
            else None
        )
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(config, i) for i in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model)
        self.apply(_init_weights)

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """tokens: (B, T) long, padding_mask: (B, T) bool (True = real) -> (B, T, D) float."""
        length = tokens.shape[1]
        if length > self.config.max_tokens:
            raise GenomixError(
                f"input of {length} tokens is longer than the model's max_tokens="
                f"{self.config.max_tokens}; split it into windows (genomix predict does)"
            )
        x = self.token_embedding(tokens)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(length, device=tokens.device))
        x = self.embedding_dropout(x)
        recompute = self.config.activation_checkpointing and torch.is_grad_enabled()
        for block in self.blocks:
            if recompute:
                x = checkpoint(block, x, padding_mask, use_reentrant=False)
            else:
                x = block(x, padding_mask)
        return self.final_norm(x)

    def aux_loss(self) -> torch.Tensor:
        """Sum of the attention layers' auxiliary losses (e.g. adaptive span's L1 penalty), a
        scalar; 0 for families without one. The training loops add it to the loss."""
        return torch.stack([block.attention.aux_loss() for block in self.blocks]).sum()

    @torch.no_grad()
    def after_step(self) -> None:
        """Run every attention layer's ``after_step`` hook; call after every optimizer step."""
        for block in self.blocks:
            block.attention.after_step()

    def learned_spans(self) -> list[dict[str, float | int]]:
        """(layer, head, span) rows of layers that learn a span; empty for other attentions."""
        return [
            {"layer": layer, "head": head, "span": span}
            for layer, block in enumerate(self.blocks)
            for head, span in enumerate(block.attention.learned_spans())
        ]


class MLMHead(nn.Module):
    """Dense + GELU + LayerNorm, then logits against the token embedding matrix (tied) + a bias."""

    def __init__(self, vocab_size: int, d_model: int) -> None:
        super().__init__()
        self.transform = nn.Sequential(
            nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model)
        )
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.transform.apply(_init_weights)

    def forward(self, hidden: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """hidden: (..., D), embedding: (V, D), the encoder's `token_embedding.matrix()` ->
        logits (..., V)."""
        return F.linear(self.transform(hidden), embedding, self.bias)


class MaskedLanguageModel(nn.Module):
    """Encoder + tied MLM head; `forward` returns logits over the k-mer vocabulary."""

    def __init__(self, config: EncoderConfig, vocab_size: int) -> None:
        super().__init__()
        self.encoder = Encoder(config, vocab_size)
        self.mlm_head = MLMHead(vocab_size, config.d_model)

    def forward(
        self,
        tokens: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        *,
        predict: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tokens: (B, T) long -> logits (B, T, V) float.

        With `predict` ((B, T) bool), logits only at those positions: (N, V), N = predict.sum().
        Pretraining asks for the masked positions alone, which skips ~85% of the V-way decoder.
        """
        hidden = self.encoder(tokens, padding_mask)
        return self.mlm_head(
            hidden if predict is None else hidden[predict], self.encoder.token_embedding.matrix()
        )


def _init_weights(module: nn.Module) -> None:
    # BERT initialisation: N(0, 0.02) weights, zero biases; LayerNorm keeps its (1, 0) default.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
