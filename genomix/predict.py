"""Predict on any FASTA, or on BED intervals of a genome: records of any length are scored in
windows and aggregated per record; rows go to TSV or Parquet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genomix.checkpoint import load_classifier
from genomix.errors import GenomixError
from genomix.fasta import FastaStream, stream_fasta
from genomix.genome import open_genome
from genomix.outputs import open_table
from genomix.regions import read_bed_records
from genomix.scoring import score_sequences
from genomix.train import hide_progress, resolve_device
from genomix.windows import AGGREGATES, scored_records, window_starts

logger = logging.getLogger(__name__)


# A record (or window) with more than this fraction of N is counted in one warning per run: its
# score says little (an all-N record still gets one).
MOSTLY_N = 0.5
__all__ = ["MOSTLY_N", "predict_fasta", "window_starts"]


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

    where = fasta if bed is None else bed
    if bed is None:
        streams: Iterable[FastaStream] = stream_fasta(fasta)
    else:
        genome = open_genome(fasta)
        records = read_bed_records(bed, genome, skip_invalid=skip_invalid, on_skip=on_skip)
        streams = (FastaStream(r.id, 0, iter([r.sequence])) for r in records)
    columns = ["id", "length", "start", "end", "n_fraction", *profiles]
    kinds = [str, int, int, int, float, *[float] * len(profiles)]
    written = mostly_n = 0
    with open_table(out, columns, kinds, output_format=output_format) as table:
        bar = tqdm(unit="window", desc="predict", disable=hide_progress(progress))
        for record in scored_records(
            streams,
            score,
            window=window,
            stride=stride,
            minimum=tokenizer.k,
            batch_size=batch_size,
            aggregate=aggregate,
            per_window=per_window,
            skip_invalid=skip_invalid,
            on_skip=_prefixed(on_skip or logger.warning, where),
            on_batch=bar.update,
        ):
            if per_window:
                for start, end, fraction, row in record.windows:
                    table.write([record.id, record.length, start, end, fraction, *row])
            else:
                result = record.aggregate.result()
                table.write(
                    [record.id, record.length, 0, record.length, record.n_fraction, *result]
                )
            written += 1
            mostly_n += record.n_fraction > MOSTLY_N
        bar.close()
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


def _prefixed(report: Callable[[str], None], where: str | Path) -> Callable[[str], None]:
    """`report`, with `where` put before messages that do not name a file yet."""
    prefix = f"{where}: "
    return lambda message: report(message if message.startswith(prefix) else prefix + message)
