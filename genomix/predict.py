"""Predict on any FASTA, or on BED intervals of a genome: records of any length are scored in
windows and aggregated per record; rows go to TSV or Parquet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

AGGREGATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "max": lambda windows: windows.max(axis=0),
    "mean": lambda windows: windows.mean(axis=0),
}


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """0-based starts of the windows covering a record of `length` bases.

    One window when the record fits; otherwise every `stride` bases, plus a last window flush with
    the record's end. With stride <= window (predict_fasta checks it) no base is left out.
    """
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


@dataclass
class _Record:
    id: str
    length: int
    windows: list[tuple[int, int]]
    scores: list[np.ndarray] = field(default_factory=list)


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
    length, then one probability per model output), or one per window with `per_window` (0-based
    window start and end in the record). Windows are the model's training length
    (`window_bases`), `stride` apart (default: half a window); `aggregate` (max or mean) combines
    a record's windows. `output_format`: tsv or parquet (default: parquet for a .parquet `out`).
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
    combine = AGGREGATES[aggregate]

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
    columns = ["id", "length", "start", "end", *profiles]
    kinds = [str, int, int, int, *[float] * len(profiles)]
    written = 0
    with open_table(out, columns, kinds, output_format=output_format) as table:
        bar = tqdm(unit="bp", unit_scale=True, desc="predict", disable=hide_progress(progress))
        records = _long_enough(
            source,
            tokenizer.k,
            fasta if bed is None else bed,
            skip_invalid=skip_invalid,
            on_skip=on_skip,
        )
        for record, scores in _score_windows(records, window, stride, batch_size, score):
            bar.update(record.length)
            if per_window:
                for (start, end), row in zip(record.windows, scores, strict=True):
                    table.write([record.id, record.length, start, end, *row])
            else:
                table.write([record.id, record.length, 0, record.length, *combine(scores)])
            written += 1
        bar.close()
    logger.info("predicted %d records -> %s", written, out)
    return written


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
) -> Iterator[tuple[_Record, np.ndarray]]:
    """Yield (record, window scores (W, P)) in file order; a batch may span several records."""
    pending: list[_Record] = []
    batch: list[str] = []
    owners: list[_Record] = []

    def flush() -> Iterator[tuple[_Record, np.ndarray]]:
        for owner, row in zip(owners, score(batch), strict=True):
            owner.scores.append(row)
        batch.clear()
        owners.clear()
        while pending and len(pending[0].scores) == len(pending[0].windows):
            done = pending.pop(0)
            yield done, np.stack(done.scores)

    for fasta_record in records:
        length = len(fasta_record.sequence)
        starts = window_starts(length, window, stride)
        record = _Record(fasta_record.id, length, [(s, min(s + window, length)) for s in starts])
        pending.append(record)
        for start, end in record.windows:
            batch.append(fasta_record.sequence[start:end])
            owners.append(record)
            if len(batch) == batch_size:
                yield from flush()
    if batch:
        yield from flush()
