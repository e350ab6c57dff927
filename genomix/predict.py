"""Predict on any FASTA, or on BED intervals of a genome: records of any length are scored in
windows and aggregated per record; rows go to TSV or Parquet.

`genomix predict` on a FASTA streams each record (`genomix.seqio.fasta.stream_fasta`,
`genomix.windows.scored_records`), so memory does not grow with a record's length; BED regions and
the Python API score whole records (`score_records`), with the same windows, batches and rows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genomix.checkpoint import load_classifier
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.runtime import hide_progress, resolve_device
from genomix.scoring import score_sequences
from genomix.seqio.fasta import FastaRecord, stream_fasta
from genomix.seqio.genome import open_genome
from genomix.seqio.outputs import open_table
from genomix.seqio.regions import GenomicRecord, read_bed_records
from genomix.windows import AGGREGATES, n_fraction, scored_records, window_starts

logger = logging.getLogger(__name__)

# A record (or window) with more than this fraction of N is counted in one warning per run: its
# score says little (an all-N record still gets one).
MOSTLY_N = 0.5
__all__ = [
    "MOSTLY_N",
    "Predictor",
    "ScoredRecord",
    "load_predictor",
    "predict_fasta",
    "prediction_columns",
    "score_records",
    "table_rows",
    "window_starts",
]


@dataclass
class _Record:
    source: FastaRecord
    windows: list[tuple[int, int]]
    scores: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True)
class ScoredRecord:
    """A record's windows and their scores.

    Attributes:
        record: the record (a `GenomicRecord` when cut from a genome by BED intervals).
        windows: W (start, end) pairs, 0-based end-exclusive, in record coordinates.
        scores: (W, P) float32 probabilities, one row per window.
    """

    record: FastaRecord
    windows: list[tuple[int, int]]
    scores: np.ndarray


@dataclass
class Predictor:
    """A fine-tuned classifier, loaded once, that scores windows of its training length."""

    model: SequenceClassifier
    tokenizer: KmerTokenizer
    metadata: dict[str, Any]
    device: torch.device
    batch_size: int = 32

    @property
    def profiles(self) -> list[str]:
        """The model's P outputs, in column order."""
        return list(self.metadata["profiles"])

    @property
    def window(self) -> int:
        """Bases per window: the length the model was fine-tuned on."""
        return int(self.metadata["window_bases"])

    def score(self, sequences: list[str]) -> np.ndarray:
        """Probabilities (N, P) float32 of N sequences of at most `window` bases."""
        return score_sequences(
            self.model,
            self.tokenizer,
            sequences,
            batch_size=self.batch_size,
            device=self.device,
            pad_to=self.tokenizer.tokens_for_length(self.window) + 1,
        )


def load_predictor(
    model_dir: str | Path,
    *,
    batch_size: int = 32,
    device: str = "auto",
    rc_average: bool | None = None,
) -> Predictor:
    """Load a fine-tuned model directory onto `device` (auto: CUDA when there is one).

    `rc_average`: average each window's logits with its reverse complement's (default: as the
    model was fine-tuned, `finetune.rc_average`).
    """
    if batch_size < 1:
        raise GenomixError(f"batch size must be at least 1, got {batch_size}")
    model, tokenizer, metadata = load_classifier(model_dir)
    if rc_average is not None:
        model.set_rc_average(rc_average)
    torch_device = resolve_device(device)
    return Predictor(model.to(torch_device), tokenizer, metadata, torch_device, batch_size)


def checked_stride(window: int, stride: int | None) -> int:
    """`stride` (default: half of `window`); GenomixError unless 1 <= stride <= window."""
    stride = max(1, window // 2) if stride is None else stride
    if not 1 <= stride <= window:
        raise GenomixError(
            f"stride must be 1 to {window} bases (the model's window), got {stride}; "
            "a larger stride would leave bases unscored"
        )
    return stride


def _ignore(count: int) -> None:
    """An `on_batch` that ignores the batch size."""


def score_records(
    predictor: Predictor,
    records: Iterable[FastaRecord],
    *,
    stride: int | None = None,
    where: str | Path = "input",
    skip_invalid: bool = False,
    on_skip: Callable[[str], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[ScoredRecord]:
    """Score every record in windows of the model's length, `stride` bases apart (default: half
    a window), in input order. Records shorter than one k-mer are refused (named after `where`),
    or skipped with `skip_invalid`; `on_batch` gets the size of each batch of windows scored."""
    window = predictor.window
    stride = checked_stride(window, stride)
    usable = _long_enough(
        iter(records), predictor.tokenizer.k, where, skip_invalid=skip_invalid, on_skip=on_skip
    )
    for record, scores in _score_windows(
        usable, window, stride, predictor.batch_size, predictor.score, on_batch or _ignore
    ):
        yield ScoredRecord(record.source, record.windows, scores)


def prediction_columns(profiles: list[str], *, genomic: bool) -> tuple[list[str], list[type]]:
    """Column names and kinds of a prediction table: `id, length, start, end` (record
    coordinates), or with `genomic` `id, chrom, start, end, strand, length` (genome
    coordinates, forward strand), then `n_fraction` (the fraction of N bases in the row's span),
    then one probability per output."""
    if genomic:
        columns = ["id", "chrom", "start", "end", "strand", "length"]
        kinds: list[type] = [str, str, int, int, str, int]
    else:
        columns, kinds = ["id", "length", "start", "end"], [str, int, int, int]
    return [*columns, "n_fraction", *profiles], [*kinds, float, *[float] * len(profiles)]


def table_rows(
    scored: ScoredRecord, *, aggregate: str = "max", per_window: bool = False
) -> Iterator[list[Any]]:
    """The rows of one scored record, in `prediction_columns` order: one for the whole record
    (its windows combined by `aggregate`, as `genomix.windows.scored_records` folds them), or one
    per window."""
    record, length = scored.record, len(scored.record.sequence)
    if per_window:
        spans, values = scored.windows, list(scored.scores)
    else:
        folded = AGGREGATES[aggregate]()
        for row in scored.scores:
            folded.add(row)
        spans, values = [(0, length)], [folded.result()]
    for (start, end), row in zip(spans, values, strict=True):
        fraction = n_fraction(record.sequence[start:end])
        if isinstance(record, GenomicRecord):
            first, last = record.genome_interval(start, end)
            yield [record.id, record.chrom, first, last, record.strand, length, fraction, *row]
        else:
            yield [record.id, length, start, end, fraction, *row]


def predict_fasta(
    model_dir: str | Path,
    fasta: str | Path,
    out: str | Path | None,
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
    tracks: Sequence[tuple[str, str | Path]] = (),
) -> int:
    """Score every record of `fasta` with a fine-tuned model; write a table to `out`, atomically.

    Records are the FASTA's (plain or gzip; soft-masked bases are upper-cased, IUPAC codes become
    N, and k-mers with N are [UNK] tokens), or, with `bed`, one per BED interval cut from `fasta`
    as an indexed genome (see `seqio.regions.read_bed_records`: strand-aware, id = BED name or
    chrom:start-end). Rows (`prediction_columns`): one per record (`id, length, start, end` with
    start 0 and end = length; with `bed`: `id, chrom, start, end, strand, length` in genome
    coordinates), `n_fraction` (the fraction of N bases), then one probability per model output;
    or one per window with `per_window` (the window's span and `n_fraction`). Records more than
    `MOSTLY_N` N are counted in one warning per run. Windows are the model's training length
    (`window_bases`), `stride` apart (default: half a window), cut and scored a batch at a time
    (progress counts windows); `aggregate` (max or mean) combines a record's windows as they
    come back. `output_format`: tsv or parquet (default: parquet for a .parquet `out`).
    `rc_average`: see `load_predictor`. `tracks`: with `bed`, (format, directory) pairs
    (`genomix.tracks.TRACK_FORMATS`: bigwig, bedgraph), one track per model output. `out` may be
    None when `tracks` are given. Returns the number of records written.
    """
    if aggregate not in AGGREGATES:
        raise GenomixError(f"aggregate '{aggregate}' is not one of {', '.join(AGGREGATES)}")
    if tracks and bed is None:
        raise GenomixError("genome-browser tracks need --bed regions and --genome")
    if out is None and not tracks:
        raise GenomixError("predict: give an output (-o, --bigwig or --bedgraph)")
    predictor = load_predictor(
        model_dir, batch_size=batch_size, device=device, rc_average=rc_average
    )
    stride = checked_stride(predictor.window, stride)
    where = fasta if bed is None else bed
    columns, kinds = prediction_columns(predictor.profiles, genomic=bed is not None)
    if tracks:
        from genomix.tracks import record_track_rows, write_tracks
    collected: list | None = [] if tracks else None
    genome = None if bed is None else open_genome(fasta)
    written = mostly_n = 0
    with contextlib.ExitStack() as stack:
        table = (
            None
            if out is None
            else stack.enter_context(open_table(out, columns, kinds, output_format=output_format))
        )
        bar = tqdm(unit="window", desc="predict", disable=hide_progress(progress))
        if genome is None:
            rows = _streamed_rows(
                predictor,
                fasta,
                stride=stride,
                aggregate=aggregate,
                per_window=per_window,
                skip_invalid=skip_invalid,
                on_skip=on_skip,
                on_batch=bar.update,
            )
        else:
            records = read_bed_records(bed, genome, skip_invalid=skip_invalid, on_skip=on_skip)
            rows = _region_rows(
                predictor,
                records,
                where,
                collected,
                record_track_rows if tracks else None,
                stride=stride,
                aggregate=aggregate,
                per_window=per_window,
                skip_invalid=skip_invalid,
                on_skip=on_skip,
                on_batch=bar.update,
            )
        for fraction, record_rows in rows:
            if table is not None:
                for row in record_rows:
                    table.write(row)
            written += 1
            mostly_n += fraction > MOSTLY_N
        bar.close()
        if collected is not None:
            for track_format, directory in tracks:
                write_tracks(collected, predictor.profiles, genome, directory, track_format)
    if mostly_n:
        logger.warning(
            "%s: %d of %d records are more than %d%% N; their scores say little (n_fraction)",
            where,
            mostly_n,
            written,
            round(100 * MOSTLY_N),
        )
    logger.info("predicted %d records -> %s", written, out)
    return written


def _streamed_rows(
    predictor: Predictor,
    fasta: str | Path,
    *,
    stride: int,
    aggregate: str,
    per_window: bool,
    skip_invalid: bool,
    on_skip: Callable[[str], None] | None,
    on_batch: Callable[[int], None],
) -> Iterator[tuple[float, list[list[Any]]]]:
    """(the record's N fraction, its table rows) per FASTA record, read a chunk at a time."""
    for record in scored_records(
        stream_fasta(fasta),
        predictor.score,
        window=predictor.window,
        stride=stride,
        minimum=predictor.tokenizer.k,
        batch_size=predictor.batch_size,
        aggregate=aggregate,
        per_window=per_window,
        skip_invalid=skip_invalid,
        on_skip=_prefixed(on_skip or logger.warning, fasta),
        on_batch=on_batch,
    ):
        if per_window:
            rows = [
                [record.id, record.length, start, end, fraction, *row]
                for start, end, fraction, row in record.windows
            ]
        else:
            result = record.aggregate.result()
            rows = [[record.id, record.length, 0, record.length, record.n_fraction, *result]]
        yield record.n_fraction, rows


def _region_rows(
    predictor: Predictor,
    records: Iterable[FastaRecord],
    where: str | Path,
    collected: list | None,
    track_rows: Callable[[ScoredRecord], list] | None,
    *,
    stride: int,
    aggregate: str,
    per_window: bool,
    skip_invalid: bool,
    on_skip: Callable[[str], None] | None,
    on_batch: Callable[[int], None],
) -> Iterator[tuple[float, list[list[Any]]]]:
    """(the region's N fraction, its table rows) per BED region; with `track_rows`, each region's
    track rows go to `collected` (the sequences are not kept)."""
    for scored in score_records(
        predictor,
        records,
        stride=stride,
        where=where,
        skip_invalid=skip_invalid,
        on_skip=on_skip,
        on_batch=on_batch,
    ):
        if collected is not None and track_rows is not None:
            collected.extend(track_rows(scored))
        rows = list(table_rows(scored, aggregate=aggregate, per_window=per_window))
        yield n_fraction(scored.record.sequence), rows


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


def _score_windows(
    records: Iterator[FastaRecord],
    window: int,
    stride: int,
    batch_size: int,
    score: Callable[[list[str]], np.ndarray],
    on_batch: Callable[[int], None],
) -> Iterator[tuple[_Record, np.ndarray]]:
    """Yield (record, window scores (W, P)) in file order; a batch may span several records
    (`on_batch` gets each batch's size)."""
    pending: list[_Record] = []
    batch: list[str] = []
    owners: list[_Record] = []

    def flush() -> Iterator[tuple[_Record, np.ndarray]]:
        for owner, row in zip(owners, score(batch), strict=True):
            owner.scores.append(row)
        on_batch(len(batch))
        batch.clear()
        owners.clear()
        while pending and len(pending[0].scores) == len(pending[0].windows):
            done = pending.pop(0)
            yield done, np.stack(done.scores)

    for fasta_record in records:
        length = len(fasta_record.sequence)
        starts = window_starts(length, window, stride)
        record = _Record(fasta_record, [(s, min(s + window, length)) for s in starts])
        pending.append(record)
        for start, end in record.windows:
            batch.append(fasta_record.sequence[start:end])
            owners.append(record)
            if len(batch) == batch_size:
                yield from flush()
    if batch:
        yield from flush()


def _prefixed(report: Callable[[str], None], where: str | Path) -> Callable[[str], None]:
    """`report`, with `where` put before messages that do not name a file yet."""
    prefix = f"{where}: "
    return lambda message: report(message if message.startswith(prefix) else prefix + message)
