"""Pretraining data: genome -> k-mer token shards on disk, shards -> masked-LM batches.

A token shard is `NAME.npy` (int32 tokens of every chromosome, concatenated) plus `NAME.json`
(tokenizer settings and each chromosome's offset and length in the array). The array is opened as
a memory map, so pretraining never holds the genome in memory.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.format import write_array_header_2_0

from genomix.data.genome_windows import GenomeWindows
from genomix.data.labels import chromosome_of_record
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.seqio.atomic import atomic_path
from genomix.seqio.fasta import check_alphabet
from genomix.seqio.genome import open_genome

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of positions that are not predicted (torch's cross_entropy default)
# Rows per chromosome of a rows shard: 10,000 rows of 1 kb are a 10-Mb block in memory.
ROWS_PER_CHROMOSOME = 10_000


def write_token_shard(genome: str | Path, out: str | Path, tokenizer: KmerTokenizer) -> Path:
    """Tokenize every chromosome of an indexed FASTA into `out` (.npy) and `out` with .json.

    Chromosomes are read, encoded and appended one at a time, so peak memory is set by the
    largest one: the .npy is written with plain file writes, not through a memory map, whose
    written pages would count towards the process's resident memory for the whole genome.
    Both files are written under temporary names and renamed into place.
    """
    fasta = open_genome(genome)
    names = list(fasta.keys())  # noqa: SIM118 -- iterating a pyfaidx.Fasta yields records
    empty = [name for name in names if len(fasta[name]) == 0]
    if empty:
        raise GenomixError(f"{genome}: record {empty[0]!r}: empty sequence (a header-only record)")
    lengths = {name: len(fasta[name]) for name in names}
    return _write_shard(
        out, tokenizer, lengths, lambda name: str(fasta[name][:]), where=str(genome)
    )


def write_rows_shard(
    sequences: Sequence[str],
    out: str | Path,
    tokenizer: KmerTokenizer,
    *,
    where: str,
    rows_per_chromosome: int = ROWS_PER_CHROMOSOME,
) -> Path:
    """Tokenize table rows (upper-case ACGTN strings) into the token shard `out`.

    Each block of `rows_per_chromosome` rows becomes one chromosome, ``train_rows_<block>``: its
    rows joined by one N, so no k-mer spans two rows ([UNK] there, never masked) and a window of
    the pretraining sampler holds several whole rows. Rows are read one block at a time (a
    GenomeWindows cuts them then), so memory is set by a block, not the table. `where` names the
    rows' source in errors. Written like `write_token_shard`.
    """
    if len(sequences) == 0:
        raise GenomixError(f"{where}: no rows to tokenize")
    # A streamed coordinate table knows its rows' lengths without cutting them.
    row_lengths = (
        sequences.lengths()
        if isinstance(sequences, GenomeWindows)
        else np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    )
    blocks, lengths = {}, {}
    for number, first in enumerate(range(0, len(sequences), rows_per_chromosome), start=1):
        rows = slice(first, first + rows_per_chromosome)
        name = f"train_rows_{number}"
        blocks[name] = rows
        lengths[name] = int(row_lengths[rows].sum()) + len(row_lengths[rows]) - 1  # + the Ns
    return _write_shard(
        out, tokenizer, lengths, lambda name: "N".join(sequences[blocks[name]]), where=where
    )


def _write_shard(
    out: str | Path,
    tokenizer: KmerTokenizer,
    lengths: dict[str, int],
    read: Callable[[str], str],
    *,
    where: str,
) -> Path:
    """Write the shard of chromosomes `lengths` (name -> bases), each read by `read(name)` when
    its turn comes, to `out` (.npy) and its .json index, both atomically."""
    out = Path(out)
    n_tokens = {name: tokenizer.tokens_for_length(length) for name, length in lengths.items()}
    total = sum(n_tokens.values())
    if total == 0:
        raise GenomixError(f"{where}: no chromosome is at least k={tokenizer.k} bases long")
    chromosomes, offset = [], 0
    index_path = out.with_suffix(".json")
    with (
        atomic_path(out) as partial_npy,
        atomic_path(index_path) as partial_json,
        partial_npy.open("wb") as fh,
    ):
        header = {"descr": np.dtype("<i4").str, "fortran_order": False, "shape": (total,)}
        write_array_header_2_0(fh, header)
        for name, expected in n_tokens.items():
            sequence = read(name)
            check_alphabet(sequence, where=f"{where}: record {name!r}")  # not protein: no [UNK]s
            encoded = tokenizer.encode(sequence)
            del sequence
            if encoded.shape != (expected,):
                raise GenomixError(f"{where}: {name}: {encoded.size} tokens, expected {expected}")
            fh.write(np.ascontiguousarray(encoded, dtype="<i4").data)  # no copy
            chromosomes.append({"name": name, "offset": offset, "length": expected})
            logger.info("tokenized %s: %d tokens", name, expected)
            offset += expected
            del encoded  # before the next chromosome's tokens exist: one chromosome at a time
        index = {"k": tokenizer.k, "stride": tokenizer.stride, "chromosomes": chromosomes}
        partial_json.write_text(json.dumps(index, indent=2) + "\n")
    return out


@dataclass(frozen=True)
class Region:
    """A stretch [start, end) of a shard's token array, inside one chromosome."""

    start: int
    end: int


class TokenShard:
    """A token shard opened read-only: `tokens` (memory-mapped int32) and its chromosomes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        index_path = self.path.with_suffix(".json")
        if not self.path.is_file() or not index_path.is_file():
            raise GenomixError(f"{self.path}: token shard not found (run `genomix tokenize`)")
        try:
            index = json.loads(index_path.read_bytes().decode("utf-8"))
            self.tokenizer = KmerTokenizer(index["k"], index["stride"])
            self.chromosomes = index["chromosomes"]
            indexed = sum(chrom["length"] for chrom in self.chromosomes)
        except (ValueError, KeyError, TypeError) as error:  # JSON and UTF-8 errors: ValueError
            reason = " ".join(str(error).split())
            raise GenomixError(
                f"{index_path}: not a token shard index ({reason}); rerun `genomix tokenize`"
            ) from None
        try:
            self.tokens = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            reason = " ".join(str(error).split())[:200]
            raise GenomixError(
                f"{self.path}: not a token shard ({reason}); rerun `genomix tokenize`"
            ) from None
        if self.tokens.shape != (indexed,) or self.tokens.dtype != np.int32:
            raise GenomixError(
                f"{self.path}: {self.tokens.shape[0]} tokens but its index {index_path.name} "
                f"lists {indexed}; the pair is stale, rerun `genomix tokenize`"
            )

    def regions(
        self, *, valid_fraction: float, valid_chroms: Sequence[str] = ()
    ) -> tuple[list[Region], list[Region]]:
        """The training and validation regions of the shard.

        With `valid_chroms`, each chromosome is wholly one or the other (those named are
        validation; a segment record `chrom:start-end` goes with its chromosome `chrom`, so
        naming an arm holds out all its segments). Without, per chromosome the head is for
        training and the tail (`valid_fraction`) for validation; the tail starts
        `ceil(k / stride) - 1` tokens after the head ends, so no base is shared by a training
        and a validation token.
        """
        if valid_chroms:
            train, valid = [], []
            for chrom in self.chromosomes:
                region = Region(chrom["offset"], chrom["offset"] + chrom["length"])
                held_out = _on_chromosomes(chrom["name"], valid_chroms)
                (valid if held_out else train).append(region)
            return train, valid
        gap = math.ceil(self.tokenizer.k / self.tokenizer.stride) - 1
        train, valid = [], []
        for chrom in self.chromosomes:
            start, end = chrom["offset"], chrom["offset"] + chrom["length"]
            cut = end - math.floor(chrom["length"] * valid_fraction)
            train.append(Region(start, cut))
            valid.append(Region(min(cut + gap, end), end))
        return train, valid


class MLMWindowSampler:
    """Draws windows of `window` tokens from shards, either strand, skipping mostly-[UNK] windows.

    Windows never cross a chromosome end; a region is drawn with probability proportional to the
    number of windows it holds. The reverse strand is taken by reverse-complementing the tokens.
    """

    def __init__(
        self,
        shards: Sequence[TokenShard],
        *,
        window: int,
        split: str,
        valid_fraction: float,
        max_unknown: float,
        valid_chroms: Sequence[str] = (),
    ) -> None:
        self.window = window
        self.max_unknown = max_unknown
        self.tokenizer = shards[0].tokenizer
        self.rc_table = torch.from_numpy(self.tokenizer.rc_table.astype(np.int64))
        self.sources: list[tuple[np.ndarray, Region]] = []
        _check_chromosomes(shards, valid_chroms)
        for shard in shards:
            if (shard.tokenizer.k, shard.tokenizer.stride) != (
                self.tokenizer.k,
                self.tokenizer.stride,
            ):
                raise GenomixError(
                    f"{shard.path}: tokenized with other k/stride than {shards[0].path}"
                )
            train, valid = shard.regions(valid_fraction=valid_fraction, valid_chroms=valid_chroms)
            for region in train if split == "train" else valid:
                if region.end - region.start >= window:
                    self.sources.append((shard.tokens, region))
        if not self.sources:
            fix = {
                ("train", False): "lower pretrain.valid_fraction",
                ("valid", False): "raise pretrain.valid_fraction",
                ("train", True): "hold out fewer pretrain.valid_chroms",
                ("valid", True): "hold out longer pretrain.valid_chroms",
            }[split, bool(valid_chroms)]
            raise GenomixError(
                f"no {split} region of {', '.join(str(s.path) for s in shards)} holds a window of "
                f"{window} tokens; lower model.max_tokens, or {fix}"
            )
        counts = np.array([r.end - r.start - window + 1 for _, r in self.sources], dtype=np.float64)
        self.weights = torch.from_numpy(counts / counts.sum())

    def kmer_log_frequencies(self, max_tokens: int = 200_000_000) -> torch.Tensor:
        """(vocab_size,) float64: log frequency of each k-mer in this sampler's regions, on both
        strands (the sampler draws either), add-one smoothed; specials and [UNK] are -inf.

        The masked-LM's frequency-only reference: predicting every masked k-mer from these
        gives `valid_unigram_loss`. Counted over at most `max_tokens` tokens (regions in order).
        """
        counts = np.zeros(self.tokenizer.vocab_size, dtype=np.float64)
        budget = max_tokens
        for tokens, region in self.sources:
            for start in range(region.start, region.end, 1 << 24):
                if budget <= 0:
                    break
                end = min(start + (1 << 24), region.end, start + budget)
                counts += np.bincount(tokens[start:end], minlength=self.tokenizer.vocab_size)
                budget -= end - start
        counts = counts + counts[self.tokenizer.rc_table]
        counts[: self.tokenizer.n_special] = 0.0
        counts[self.tokenizer.n_special :] += 1.0
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(counts / counts.sum()))

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A batch of windows: (batch_size, window) long token ids."""
        rows = []
        attempts = 0
        while len(rows) < batch_size:
            attempts += 1
            if attempts > 100 * batch_size:
                raise GenomixError(
                    f"fewer than 1% of windows have at most {self.max_unknown:.0%} N; "
                    "raise pretrain.max_unknown"
                )
            source = int(torch.multinomial(self.weights, 1, generator=generator))
            tokens, region = self.sources[source]
            span = region.end - region.start - self.window + 1
            start = region.start + int(torch.randint(span, (1,), generator=generator))
            row = torch.from_numpy(np.asarray(tokens[start : start + self.window], dtype=np.int64))
            if (row == self.tokenizer.unk_id).float().mean() > self.max_unknown:
                continue
            if torch.rand((), generator=generator) < 0.5:
                row = self.rc_table[row.flip(0)]
            rows.append(row)
        return torch.stack(rows)


def _check_chromosomes(shards: Sequence[TokenShard], names: Sequence[str]) -> None:
    """GenomixError naming the shards' chromosomes if one of `names` is in none of them."""
    present = {
        name
        for shard in shards
        for chrom in shard.chromosomes
        for name in (chrom["name"], chromosome_of_record(chrom["name"]))
    }
    unknown = [name for name in names if name not in present]
    if unknown:
        listed = ", ".join(sorted(present)[:10]) + (", ..." if len(present) > 10 else "")
        raise GenomixError(
            f"pretrain.valid_chroms: {', '.join(unknown)} not in "
            f"{', '.join(str(shard.path) for shard in shards)} (chromosomes: {listed})"
        )


def _on_chromosomes(record: str, chromosomes: Sequence[str]) -> bool:
    """Whether the record `record` (a chromosome or a segment `chrom:start-end`) lies on one of
    `chromosomes`."""
    return record in chromosomes or chromosome_of_record(record) in chromosomes


def mask_span(tokenizer: KmerTokenizer) -> int:
    """Tokens masked around each anchor: every token sharing a base with the anchor k-mer.

    Token t covers bases [t*s, t*s + k); tokens u with |u - t| * s < k overlap it, so hiding the
    anchor's k bases from all unmasked tokens means masking 2 * ceil(k / s) - 1 tokens.
    """
    return 2 * math.ceil(tokenizer.k / tokenizer.stride) - 1


def mask_tokens(
    tokens: torch.Tensor,
    tokenizer: KmerTokenizer,
    *,
    mask_prob: float,
    generator: torch.Generator,
    maskable: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Span masking for overlapping k-mers, with BERT's 80/10/10 replacement chosen per span.

    Anchors are drawn so that, once each is widened to `mask_span` tokens, a fraction `mask_prob`
    of tokens is masked in expectation: P(token masked) = 1 - (1 - p_anchor) ** span. Each span
    is then, as a whole, replaced by [MASK] (80%), by random k-mers (10%) or left unchanged (10%);
    where spans overlap, [MASK] wins over random, and random over unchanged. Choosing per token
    instead would leave ~10% of a [MASK] span's tokens true, and one true neighbour reveals
    k - 1 of the anchor's k bases.

    tokens: (B, T) long; maskable: (B, T) bool, positions that may be masked (default: all but
    special tokens). Returns (inputs, labels), both (B, T) long; labels are IGNORE_INDEX where no
    prediction is asked.
    """
    span = mask_span(tokenizer)
    if maskable is None:
        maskable = tokens >= tokenizer.n_special
    anchor_prob = 1.0 - (1.0 - mask_prob) ** (1.0 / span)
    anchors = (torch.rand(tokens.shape, generator=generator) < anchor_prob) & maskable
    draw = torch.rand(tokens.shape, generator=generator)
    # Per-anchor replacement code: 3 = [MASK], 2 = random, 1 = unchanged; 0 = no anchor.
    code = torch.where(draw < 0.8, 3.0, torch.where(draw < 0.9, 2.0, 1.0)) * anchors
    code = F.max_pool1d(code[:, None], span, stride=1, padding=span // 2)[:, 0] * maskable
    labels = torch.where(code > 0, tokens, torch.full_like(tokens, IGNORE_INDEX))

    random_ids = torch.randint(
        tokenizer.n_special, tokenizer.vocab_size, tokens.shape, generator=generator
    )
    inputs = torch.where(code == 2, random_ids, tokens)
    return inputs.masked_fill(code == 3, tokenizer.mask_id), labels


def visible_base_loss(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    tokenizer: KmerTokenizer,
    log_frequencies: torch.Tensor,
    *,
    offset: int = 1,
) -> torch.Tensor:
    """Loss of a counting model that reads the bases the unmasked neighbours show.

    A masked k-mer's bases may be covered by tokens outside every masked span (those are true
    tokens; a span's random or unchanged tokens cannot be told apart, so they show nothing).
    This reference predicts each masked k-mer from the training frequencies
    (`log_frequencies`, (V,)) restricted to the k-mers that agree with every visible base. A
    masked LM that reads its context should get below it.

    inputs, labels: (B, T) long from `mask_tokens`, tokens from position `offset` on (1 when
    [CLS] leads). Returns (N,) float64, -log p of each of the N masked tokens, in row order.
    """
    k, stride = tokenizer.k, tokenizer.stride
    n_special = tokenizer.n_special
    tokens = inputs[:, offset:]
    targets = labels[:, offset:]
    batch, length = tokens.shape
    visible = (targets == IGNORE_INDEX) & (tokens >= n_special)
    shifts = 2 * torch.arange(k - 1, -1, -1)
    digits = ((tokens - n_special).clamp_min(0)[..., None] >> shifts) & 3  # (B, T, k)
    starts = torch.arange(length) * stride
    base_positions = starts[:, None] + torch.arange(k)  # (T, k)
    bases = torch.full((batch, (length - 1) * stride + k), -1, dtype=torch.long)
    rows, columns = visible.nonzero(as_tuple=True)
    bases[rows[:, None], base_positions[columns]] = digits[rows, columns]
    rows, columns = (targets != IGNORE_INDEX).nonzero(as_tuple=True)
    known = bases[rows[:, None], base_positions[columns]]  # (N, k), -1 = hidden
    true_ids = targets[rows, columns] - n_special
    kmer_digits = (torch.arange(4**k)[:, None] >> shifts) & 3  # (4**k, k)
    frequencies = log_frequencies[n_special:].double().exp()
    losses = []
    for chunk_known, chunk_true in zip(known.split(64), true_ids.split(64), strict=True):
        agrees = (
            (chunk_known[:, None, :] < 0) | (kmer_digits[None] == chunk_known[:, None, :])
        ).all(dim=-1)  # (n, 4**k)
        mass = (frequencies[None] * agrees).sum(dim=1)
        losses.append(torch.log(mass) - torch.log(frequencies[chunk_true]))
    return torch.cat(losses) if losses else torch.zeros(0, dtype=torch.float64)
