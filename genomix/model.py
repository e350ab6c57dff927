"""The encoder: token embeddings, pre-LayerNorm transformer blocks, an MLM head.

Read top to bottom: `TransformerBlock` -> `Encoder` -> `MLMHead` -> `MaskedLanguageModel`, each
built from an `EncoderConfig` (genomix.config, beside the other stage configs). The attention
inside each block is built from `EncoderConfig.attention`, the options dataclass of one family of
`genomix.attention.ATTENTION`; this module never branches on the family. Positions are learned
absolute embeddings added to the tokens, or rotary (RoPE), applied to q and k inside every
attention (`genomix.attention.rotary`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from genomix.attention import build_attention
from genomix.config import EncoderConfig
from genomix.embedding import KmerEmbedding
from genomix.errors import GenomixError


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
