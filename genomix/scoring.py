"""Sequences -> model inputs -> probabilities, in batches (fine-tuning, evaluate, predict)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer


def encode_sequences(
    tokenizer: KmerTokenizer, sequences: Sequence[str], *, max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] + k-mer tokens of each sequence, right-padded.

    Returns tokens (N, T) long and padding_mask (N, T) bool (True = real token), T the longest.
    """
    tokens = torch.from_numpy(tokenizer.encode_batch(sequences, add_cls=True)).long()
    if tokens.shape[1] > max_tokens:
        longest = max(len(s) for s in sequences)
        raise GenomixError(
            f"a {longest} bp sequence is {tokens.shape[1]} tokens with [CLS], more than the "
            f"model's max_tokens={max_tokens}; raise model.max_tokens or use shorter windows"
        )
    return tokens, tokens != tokenizer.pad_id


@torch.no_grad()
def score_sequences(
    model: nn.Module,
    tokenizer: KmerTokenizer,
    sequences: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Sigmoid outputs of a SequenceClassifier for each sequence: (N, P) float32 in [0, 1]."""
    was_training = model.training
    model.eval()
    max_tokens = model.encoder.config.max_tokens
    outputs = []
    for start in range(0, len(sequences), batch_size):
        tokens, padding = encode_sequences(
            tokenizer, sequences[start : start + batch_size], max_tokens=max_tokens
        )
        logits = model(tokens.to(device), padding.to(device))
        outputs.append(torch.sigmoid(logits.float()).cpu().numpy())
    model.train(was_training)
    n_outputs = model.head.linear.out_features
    return np.concatenate(outputs) if outputs else np.zeros((0, n_outputs), dtype=np.float32)
