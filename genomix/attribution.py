"""Which bases drive a prediction: the effect of every single-base change on every output logit.

Two methods fill the same ``(L, 3, P)`` array of ``logit(alt) - logit(ref)`` for the three
alternative bases of each of a sequence's L positions and each of the model's P outputs:

- ``ism``: saturation in-silico mutagenesis. Every mutant is built on bases (one base changes up
  to k overlapping k-mer tokens), tokenized and scored by ``genomix.scoring.score_logits``, the
  scorer of ``predict`` and ``predict-variants``, with the model's reverse-complement averaging.
  Exact, and ``3L + 1`` forward passes per sequence.
- ``gradient``: the first-order (Taylor) estimate of the same change at the token embedding
  (and at the head's k-mer bag, when it has one),
  ``sum_t grad_t . (E[alt_t] - E[ref_t])`` over the tokens a mutation changes, on both strands
  when the model averages them. It is the k-mer form of the one-hot "gradient at alt minus
  gradient at ref" (gradient x input), and costs one forward and one backward pass per sequence.

``importance`` reduces either to one number per base and output for logos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.scoring import encode_sequences, score_logits
from genomix.seqio.fasta import FastaRecord
from genomix.seqio.regions import reverse_complement

BASES = "ACGT"
# Mutants tokenized at once by the gradient method: bounds memory at (chunk, T) ids.
_CHUNK = 1024


def alternatives(base: str) -> str:
    """The three bases other than `base` (one of ACGT), in ACGT order."""
    return BASES.replace(base, "")


def mutant_sequences(sequence: str, start: int = 0, stop: int | None = None) -> Iterator[str]:
    """The single-base mutants of `sequence` (ACGT only), position by position then alternative
    in ACGT order; mutant ``3 * i + j`` changes position ``i`` to ``alternatives(ref)[j]``.
    `start` and `stop` slice that order without building the mutants outside it."""
    stop = 3 * len(sequence) if stop is None else min(stop, 3 * len(sequence))
    for index in range(start, stop):
        position, choice = divmod(index, 3)
        alt = alternatives(sequence[position])[choice]
        yield sequence[:position] + alt + sequence[position + 1 :]


def importance(logit_diff: np.ndarray) -> np.ndarray:
    """Per-base importance for logos: minus the mean effect of the three alternatives.

    logit_diff: (L, 3, P) -> (L, P). Positive where the reference base raises the output
    against the average other base, the height of the reference letter in an ISM logo
    (tangermeme's ISM x input; Majdandzic et al. 2023 centre on the mean in the same way).
    """
    return -logit_diff.mean(axis=1)


@dataclass(frozen=True)
class ExplainedRecord:
    """One explained record with its logits and per-base importance.

    Attributes:
        record: the record (L bases of ACGT): a ``GenomicRecord`` knows where it lies in a
            genome, an ``AlleleWindow`` which VCF allele it holds.
        logits: (P,) float, the record's own logit per output (ranks the records).
        importance: (L, P) float, per-base importance per output.
    """

    record: FastaRecord
    logits: np.ndarray
    importance: np.ndarray

    @property
    def id(self) -> str:
        """The record's id."""
        return self.record.id

    @property
    def sequence(self) -> str:
        """The record's bases."""
        return self.record.sequence


class Method(Protocol):
    """Signature of an attribution method (see ``METHODS``)."""

    def __call__(
        self,
        model: nn.Module,
        tokenizer: KmerTokenizer,
        sequence: str,
        *,
        batch_size: int,
        device: torch.device,
        pad_to: int,
        advance: Callable[[int], None],
    ) -> tuple[np.ndarray, np.ndarray]: ...


def ism(
    model: nn.Module,
    tokenizer: KmerTokenizer,
    sequence: str,
    *,
    batch_size: int,
    device: torch.device,
    pad_to: int,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[np.ndarray, np.ndarray]:
    """Saturation ISM of one ACGT `sequence` of L bases.

    Returns (ref_logits (P,) float32, logit_diff (L, 3, P) float64): the sequence's logits and
    ``logit(mutant) - logit(sequence)`` per mutant (`mutant_sequences` order), as
    ``predict-variants`` computes it. `pad_to` fixes the padded token length (sparse attention
    patterns depend on it); `advance(n)` is called after each batch of n mutants.
    """
    reference = score_logits(
        model, tokenizer, [sequence], batch_size=1, device=device, pad_to=pad_to
    )[0]
    total = 3 * len(sequence)
    diffs = []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        batch = list(mutant_sequences(sequence, start, stop))
        logits = score_logits(
            model, tokenizer, batch, batch_size=batch_size, device=device, pad_to=pad_to
        )
        diffs.append(logits.astype(np.float64) - reference)
        advance(stop - start)
    return reference, np.concatenate(diffs).reshape(len(sequence), 3, -1)


def token_tables(model: nn.Module) -> list[nn.Module]:
    """The modules of `model` that map token ids (R, T) to vectors (R, T, D): the encoder's
    ``token_embedding`` and, when the head has a k-mer bag, its table. GenomixError without the
    first."""
    embedding = getattr(getattr(model, "encoder", None), "token_embedding", None)
    if not isinstance(embedding, nn.Module):
        raise GenomixError("gradient attribution needs model.encoder.token_embedding; use ism")
    bag = getattr(getattr(model, "head", None), "kmer_bag", None)
    return [embedding] if bag is None else [embedding, bag.table]


def gradient(
    model: nn.Module,
    tokenizer: KmerTokenizer,
    sequence: str,
    *,
    batch_size: int,
    device: torch.device,
    pad_to: int,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[np.ndarray, np.ndarray]:
    """First-order estimate of saturation ISM from the gradient at the token embeddings.

    The output of each of `token_tables(model)` (any module mapping ids (R, T) to (R, T, D),
    not only ``nn.Embedding``) is captured with a forward hook; one pass scores P copies of the
    sequence and back-propagates output p from copy p, which gives every output's gradient
    G_p (R, T, D) at once. The estimated change of a mutant is ``sum_t G_p[t] . (E[m_t] -
    E[r_t])`` over the tables, the rows each table embedded (the sequence, and its reverse
    complement when the model averages strands) and the tokens t where the mutant's ids m
    differ from r.

    Returns (ref_logits (P,) float32, logit_diff (L, 3, P) float64), like `ism`. `batch_size` is
    unused (one pass per sequence).
    """
    tables = token_tables(model)
    captured: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}  # table -> (ids, output)

    def keep(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        captured[module] = (inputs[0], output)

    n_outputs = model.head.linear.out_features
    tokens, padding = encode_sequences(
        tokenizer, [sequence], max_tokens=model.encoder.config.max_tokens, pad_to=pad_to
    )
    was_training = model.training
    model.eval()
    handles = [table.register_forward_hook(keep) for table in tables]
    try:
        with torch.enable_grad():
            logits = model(
                tokens.repeat(n_outputs, 1).to(device), padding.repeat(n_outputs, 1).to(device)
            )
            grads = torch.autograd.grad(
                logits.diagonal().sum(), [captured[table][1] for table in tables]
            )
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    diffs = torch.zeros(3 * len(sequence), n_outputs, dtype=torch.float64, device=device)
    with torch.no_grad():
        vocabulary = torch.arange(tokenizer.vocab_size, device=device)[None]
        vectors = [table(vocabulary)[0].float() for table in tables]  # (V, D) each
    for table in tables:  # each must have embedded the sequence (and its reverse complement)
        strands = _strand_sequences(sequence, captured[table][0], n_outputs, tokenizer, pad_to)
    for strand, transform in enumerate(strands):
        reference_ids = _ids(tokenizer, [transform(sequence)], pad_to, device)[0]
        # (P, T, D) per table
        rows = [g[strand * n_outputs : (strand + 1) * n_outputs].float() for g in grads]
        for start in range(0, 3 * len(sequence), _CHUNK):
            mutants = [transform(m) for m in mutant_sequences(sequence, start, start + _CHUNK)]
            mutant_ids = _ids(tokenizer, mutants, pad_to, device)
            which, where = torch.nonzero(mutant_ids != reference_ids, as_tuple=True)
            for table_vectors, table_rows in zip(vectors, rows, strict=True):
                change = (
                    table_vectors[mutant_ids[which, where]] - table_vectors[reference_ids[where]]
                )
                effect = torch.einsum("nd,pnd->np", change, table_rows[:, where]).double()
                diffs[start : start + len(mutants)].index_add_(0, which, effect)
    advance(3 * len(sequence))
    reference = logits[0].detach().float().cpu().numpy()
    return reference, diffs.cpu().numpy().reshape(len(sequence), 3, n_outputs)


def _ids(
    tokenizer: KmerTokenizer, sequences: Sequence[str], pad_to: int, device: torch.device
) -> torch.Tensor:
    """[CLS] + k-mer ids of `sequences`, padded to `pad_to`: (N, pad_to) long on `device`."""
    ids = tokenizer.encode_batch(sequences, add_cls=True, pad_to=pad_to)
    return torch.from_numpy(ids).to(device)


def _strand_sequences(
    sequence: str, ids: torch.Tensor, n_outputs: int, tokenizer: KmerTokenizer, pad_to: int
) -> list[Callable[[str], str]]:
    """How each group of P rows the embedding saw was made from the sequence: as is, and (with
    strand averaging) reverse-complemented. GenomixError when the ids are neither, since the
    estimate is then not that of a base change."""
    strands: list[Callable[[str], str]] = [lambda s: s]
    if ids.shape[0] == 2 * n_outputs:
        strands.append(reverse_complement)
    for index, transform in enumerate(strands):
        expected = _ids(tokenizer, [transform(sequence)], pad_to, ids.device)[0]
        if ids.shape[0] != len(strands) * n_outputs or not torch.equal(
            ids[index * n_outputs], expected
        ):
            raise GenomixError(
                "gradient attribution: the model embeds tokens other than the sequence's "
                "(and its reverse complement's); use --method ism"
            )
    return strands


METHODS: dict[str, Method] = {"ism": ism, "gradient": gradient}
