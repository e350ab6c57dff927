"""Training batches built when they are needed: sequences cut and tokenized per batch.

Fine-tuning draws its batches as row indices (`genomix.steps.StepSchedule`); `batch_loader`
turns an epoch's list of them into model inputs in a torch DataLoader, in `num_workers`
processes (0: in this one). A batch's tokens do not depend on the other rows, since every
batch is padded to the same width, so the inputs equal those of tokenizing every row at once
and indexing them, whatever `num_workers`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from genomix.data.genome_windows import GenomeWindows
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer


def sequence_lengths(sequences: Sequence[str]) -> np.ndarray:
    """(N,) int64 lengths in bp, without cutting GenomeWindows."""
    if isinstance(sequences, GenomeWindows):
        return sequences.lengths()
    return np.array([len(s) for s in sequences], dtype=np.int64)


def take_sequences(sequences: Sequence[str], index: np.ndarray) -> list[str]:
    """The sequences at (B,) int `index`, in that order."""
    if isinstance(sequences, GenomeWindows):
        return sequences.fetch(index)
    return [sequences[i] for i in index.tolist()]


def check_token_budget(tokenizer: KmerTokenizer, longest: int, *, max_tokens: int) -> None:
    """Refuse a `longest`-bp sequence that needs more than `max_tokens` tokens with [CLS]."""
    tokens = tokenizer.tokens_for_length(longest) + 1
    if tokens > max_tokens:
        raise GenomixError(
            f"a {longest} bp sequence is {tokens} tokens with [CLS], more than the model's "
            f"max_tokens={max_tokens}; raise model.max_tokens or use shorter windows"
        )


class TrainingBatches(Dataset):
    """Item i is batch i of `batches` as model inputs.

    Items: tokens (B, T) long, padding (B, T) bool (True = real token), labels (B, P) float32,
    with T = `pad_to` ([CLS] included) for every batch.
    """

    def __init__(
        self,
        sequences: Sequence[str],
        labels: torch.Tensor,
        batches: list[torch.Tensor],
        *,
        tokenizer: KmerTokenizer,
        pad_to: int,
    ) -> None:
        self.sequences, self.labels, self.batches = sequences, labels, batches
        self.tokenizer, self.pad_to = tokenizer, pad_to

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = self.batches[i]
        sequences = take_sequences(self.sequences, batch.numpy())
        tokens = self.tokenizer.encode_batch(sequences, add_cls=True, pad_to=self.pad_to)
        tokens = torch.from_numpy(tokens).long()
        return tokens, tokens != self.tokenizer.pad_id, self.labels[batch]


def batch_loader(
    sequences: Sequence[str],
    labels: torch.Tensor,
    batches: list[torch.Tensor],
    *,
    tokenizer: KmerTokenizer,
    pad_to: int,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader of TrainingBatches, in order, built in `num_workers` processes.

    sequences: N sequences (a list or GenomeWindows); labels: (N, P) float32;
    batches: (B,) long row indices, one tensor per step. Neither it nor its workers draw from
    torch's global RNG.
    """
    return DataLoader(
        TrainingBatches(sequences, labels, batches, tokenizer=tokenizer, pad_to=pad_to),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        # its own generator: a DataLoader draws a base seed per epoch, which must not advance
        # the global RNG (dropout draws from it); batches are deterministic whatever the seed
        generator=torch.Generator().manual_seed(0),
    )
