"""Genome tracks of per-base importance: one bedGraph per model output, for a genome browser.

A base that several explained regions cover gets the mean of their importances, so the lines
never overlap (``bedGraphToBigWig`` refuses overlaps). Lines are sorted by chromosome name, then
position; coordinates are 0-based, end-exclusive, one base per line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genomix.attribution import ExplainedRecord
from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path
from genomix.seqio.regions import GenomicRecord


def write_bedgraphs(
    records: Sequence[ExplainedRecord], outputs: Sequence[str], folder: str | Path
) -> tuple[Path, ...]:
    """Write ``folder/<output>.bedGraph`` of each output's importance; returns the paths.

    Raises:
        GenomixError: a record without genome coordinates (from a FASTA, not a BED).
    """
    folder = Path(folder)
    sums: dict[tuple[str, int], np.ndarray] = defaultdict(lambda: np.zeros(len(outputs)))
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for record in records:
        region = record.record
        if not isinstance(region, GenomicRecord):
            raise GenomixError(f"record '{record.id}': genome tracks need BED regions (--bed)")
        positions = region.genome_positions(np.arange(len(record.sequence)))
        for position, values in zip(positions, record.importance, strict=True):
            key = (region.chrom, int(position))
            sums[key] += values
            counts[key] += 1
    keys = sorted(sums)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, output in enumerate(outputs):
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', output)}.bedGraph"
        with atomic_path(path) as temporary, open(temporary, "w") as handle:
            handle.write(f'track type=bedGraph name="{output} importance"\n')
            for chrom, position in keys:
                value = sums[chrom, position][index] / counts[chrom, position]
                handle.write(f"{chrom}\t{position}\t{position + 1}\t{value:.6g}\n")
        paths.append(path)
    return tuple(paths)
