"""Predict on any FASTA, or on BED intervals of a genome: records of any length are scored in
windows and aggregated per record; rows go to TSV or Parquet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genomix.checkpoint import load_classifier
from genomix.errors import GenomixError
from genomix.fasta import FastaRecord, read_fasta
from genomix.genome import open_genome
from genomix.outputs import open_table
from genomix.regions import read_bed_records
from genomix.scoring import score_sequences
from genomix.train import hide_progress, resolve_device

logger = logging.getLogger(__name__)


# How a record's window scores (W, P) become one row (P,): folded one batch at a time, so a
# record's windows are never all held.
class _Max:
    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        """Fold in window scores (n, P)."""
        top = rows.max(axis=0)
        self.value = top if self.value is None else np.maximum(self.value, top)

    def result(self) -> np.ndarray:
        """(P,) the maximum over every window added."""
        assert self.value is not None
        return self.value


class _Mean:
    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, rows: np.ndarray) -> None:
        """Fold in window scores (n, P)."""
        part = rows.astype(np.float64).sum(axis=0)
        self.total = part if self.total is None else self.total + part
        self.count += len(rows)

    def result(self) -> np.ndarray:
        """(P,) the mean over every window added."""
        assert self.total is not None
        return (self.total / self.count).astype(np.float32)


AGGREGATES: dict[str, type[_Max] | type[_Mean]] = {"max": _Max, "mean": _Mean}
# A record (or window) with more than this fraction of N is reported once per run: its score
# says little (an all-N record still gets one).
MOSTLY_N = 0.5


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """0-based starts of the windows covering a record of `length` bases.

    One window when the record fits; otherwise every `stride` bases, plus a last window flush with
    the record's end. With stride <= window (predict_fasta checks it) no base is left out.
    """
    return list(iter_window_starts(length, window, stride))


def iter_window_starts(length: int, window: int, stride: int) -> Iterator[int]:
    """`window_starts`, one at a time (a chromosome has millions)."""
    if length <= window:
        yield 0
        return
    last = length - window
    yield from range(0, last + 1, stride)
    if last % stride:
        yield last


def n_fraction(sequence: str) -> float:
    """Fraction of N in an upper-case ACGTN sequence (0 for an empty one)."""
    return sequence.count("N") / len(sequence) if sequence else 0.0


@dataclass
class _Record:
    """A record whose windows are being scored: `left` windows still to come back."""

    id: str
    length: int
    n_fraction: float
    left: int
    aggregate: _Max | _Mean


def predict_fasta(
    model_dir: str | Path,
    fasta: str | Path,
    out: str | Path,
    *,
    stride: int | None = None,
    aggregate: str = "max",
    batch_size: int = 32,
    device: str = "auto",
    skip_invalid: bool = False,
    per_window: bool = False,
    progress: bool | None = None,
    on_skip: Callable[[str], None] | None = None,
    bed: str | Path | None = None,
    output_format: str | None = None,
    rc_average: bool | None = None,
) -> int:
    """Score every record of `fasta` with a fine-tuned model; write a table to `out`, atomically.

    Records are the FASTA's (plain or gzip; soft-masked bases are upper-cased, IUPAC codes become
    N, and k-mers with N are [UNK] tokens), or, with `bed`, one per BED interval cut from `fasta`
    as an indexed genome (see `genomix.regions.read_bed_records`: strand-aware, id = BED name or
    chrom:start-end). Rows: one per record (`id, length, start, end` with start 0 and end =
    length, `n_fraction` = the fraction of N bases, then one probability per model output), or
    one per window with `per_window` (0-based window start and end in the record, the window's
    `n_fraction`). Records more than `MOSTLY_N` N are counted in one warning per run. Windows
    are the model's training length (`window_bases`), `stride` apart (default: half a window),
    cut and scored a batch at a time (progress counts windows); `aggregate` (max or mean)
    combines a record's windows as they come back. `output_format`: tsv or parquet (default:
    parquet for a .parquet `out`).
    `rc_average`: average each window's logits with its reverse complement's (default: as the
    model was fine-tuned, `finetune.rc_average`). Returns the number of records written.
    """
    if aggregate not in AGGREGATES:
        raise GenomixError(f"aggregate '{aggregate}' is not one of {', '.join(AGGREGATES)}")
    model, tokenizer, metadata = load_classifier(model_dir)
    if rc_average is not None:
        model.set_rc_average(rc_average)
    window = int(metadata["window_bases"])
    stride = max(1, window // 2) if stride is None else stride
    if not 1 <= stride <= window:
        raise GenomixError(
            f"stride must be 1 to {window} bases (the model's window), got {stride}; "
            "a larger stride would leave bases unscored"
        )
    if batch_size < 1:
        raise GenomixError(f"batch size must be at least 1, got {batch_size}")
    torch_device = resolve_device(device)
    model.to(torch_device)
    profiles = metadata["profiles"]

    window_tokens = tokenizer.tokens_for_length(window) + 1

    def score(batch: list[str]) -> np.ndarray:
        return score_sequences(
            model,
            tokenizer,
            batch,
            batch_size=batch_size,
            device=torch_device,
            pad_to=window_tokens,
        )

    if bed is None:
        source = read_fasta(fasta, skip_invalid=skip_invalid, on_skip=on_skip)
    else:
        genome = open_genome(fasta)
        source = read_bed_records(bed, genome, skip_invalid=skip_invalid, on_skip=on_skip)
    columns = ["id", "length", "start", "end", "n_fraction", *profiles]
    kinds = [str, int, int, int, float, *[float] * len(profiles)]
    counts = {"records": 0, "mostly_n": 0}
    with open_table(out, columns, kinds, output_format=output_format) as table:
        bar = tqdm(unit="window", desc="predict", disable=hide_progress(progress))
        records = _long_enough(
            source,
            tokenizer.k,
            fasta if bed is None else bed,
            skip_invalid=skip_invalid,
            on_skip=on_skip,
        )
        batches = _scored_batches(records, window, stride, batch_size, score, aggregate, counts)
        for windows, scores in batches:
            bar.update(len(windows))
            for (record, start, end, sequence), row in zip(windows, scores, strict=True):
                if per_window:
                    table.write([record.id, record.length, start, end, n_fraction(sequence), *row])
                record.aggregate.add(row[None])
                record.left -= 1
                if not record.left and not per_window:
                    result = record.aggregate.result()
                    table.write(
                        [record.id, record.length, 0, record.length, record.n_fraction, *result]
                    )
        bar.close()
    if counts["mostly_n"]:
        logger.warning(
            "%s: %d of %d records are more than %d%% N; their scores say little (n_fraction)",
            fasta if bed is None else bed,
            counts["mostly_n"],
            counts["records"],
            round(100 * MOSTLY_N),
        )
    logger.info("predicted %d records -> %s", counts["records"], out)
    return counts["records"]


def _long_enough(
    records: Iterator[FastaRecord],
    k: int,
    fasta: str | Path,
    *,
    skip_invalid: bool,
    on_skip: Callable[[str], None] | None,
) -> Iterator[FastaRecord]:
    """Records of at least one k-mer; shorter ones are skipped (with skip_invalid) or refused."""
    for record in records:
        if len(record.sequence) >= k:
            yield record
            continue
        message = (
            f"{fasta}: record '{record.id}' is {len(record.sequence)} bp, shorter than one {k}-mer"
        )
        if not skip_invalid:
            raise GenomixError(message)
        (on_skip or logger.warning)(message)


Window = tuple[_Record, int, int, str]  # the record, start, end, bases


def _scored_batches(
    records: Iterator[FastaRecord],
    window: int,
    stride: int,
    batch_size: int,
    score: Callable[[list[str]], np.ndarray],
    aggregate: str,
    counts: dict[str, int],
) -> Iterator[tuple[list[Window], np.ndarray]]:
    """Yield (windows, their scores (n, P)) in file order, `batch_size` windows at a time; a batch
    may span records, and a record's windows are cut as they are scored, never all at once.
    `counts` gets the records seen and those mostly N."""
    batch: list[Window] = []
    for fasta_record in records:
        sequence = fasta_record.sequence
        length = len(sequence)
        starts = iter_window_starts(length, window, stride)
        fraction = n_fraction(sequence)
        n_windows = 1 if length <= window else -(-(length - window) // stride) + 1
        record = _Record(fasta_record.id, length, fraction, n_windows, AGGREGATES[aggregate]())
        counts["records"] += 1
        counts["mostly_n"] += fraction > MOSTLY_N
        for start in starts:
            end = min(start + window, length)
            batch.append((record, start, end, sequence[start:end]))
            if len(batch) == batch_size:
                yield batch, score([w[3] for w in batch])
                batch = []
    if batch:
        yield batch, score([w[3] for w in batch])
