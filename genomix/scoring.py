"""Sequences -> model inputs -> probabilities, in batches (fine-tuning, evaluate, predict)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer


def encode_sequences(
    tokenizer: KmerTokenizer,
    sequences: Sequence[str],
    *,
    max_tokens: int,
    pad_to: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] + k-mer tokens of each sequence, right-padded to `pad_to` (default: the longest).

    Returns tokens (N, T) long and padding_mask (N, T) bool (True = real token).
    """
    longest = max(tokenizer.tokens_for_length(len(s)) + 1 for s in sequences)
    if longest > max_tokens:
        raise GenomixError(
            f"a {max(len(s) for s in sequences)} bp sequence is {longest} tokens with [CLS], more "
            f"than the model's max_tokens={max_tokens}; raise model.max_tokens or use shorter "
            "windows"
        )
    tokens = torch.from_numpy(
        tokenizer.encode_batch(sequences, add_cls=True, pad_to=pad_to or longest)
    ).long()
    return tokens, tokens != tokenizer.pad_id


@torch.no_grad()
def score_logits(
    model: nn.Module,
    tokenizer: KmerTokenizer,
    sequences: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
    pad_to: int | None = None,
) -> np.ndarray:
    """Logits of a SequenceClassifier for each sequence: (N, P) float32.

    `pad_to` (tokens, [CLS] included) fixes the padded length of every batch. Sparse patterns
    depend on the padded length (BigBird draws its random blocks per number of blocks), so a
    fixed length makes a sequence's score independent of what else shares its batch.
    """
    was_training = model.training
    model.eval()
    max_tokens = model.encoder.config.max_tokens
    outputs = []
    try:
        for start in range(0, len(sequences), batch_size):
            tokens, padding = encode_sequences(
                tokenizer,
                sequences[start : start + batch_size],
                max_tokens=max_tokens,
                pad_to=pad_to,
            )
            logits = model(tokens.to(device), padding.to(device))
            outputs.append(logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    n_outputs = model.head.linear.out_features
    return np.concatenate(outputs) if outputs else np.zeros((0, n_outputs), dtype=np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Probabilities of (N, P) float32 logits, float32 (torch's sigmoid, as in training)."""
    return torch.sigmoid(torch.from_numpy(logits)).numpy()


def score_sequences(
    model: nn.Module,
    tokenizer: KmerTokenizer,
    sequences: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
    pad_to: int | None = None,
) -> np.ndarray:
    """Sigmoid outputs of a SequenceClassifier for each sequence: (N, P) float32 in [0, 1].

    See `score_logits` for `pad_to`.
    """
    logits = score_logits(
        model, tokenizer, sequences, batch_size=batch_size, device=device, pad_to=pad_to
    )
    return sigmoid(logits)
