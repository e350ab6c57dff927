"""Sequences cut from an indexed genome: BED intervals -> records, chromosome names matched.

Chromosome names are matched exactly first, then with the ``chr`` prefix added or removed
(``20`` <-> ``chr20``, ``MT`` <-> ``chrM``), so a UCSC-style BED or VCF reads against an
Ensembl-style FASTA and back. A name found neither way is an error naming the input file and line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyfaidx

from genomix.errors import GenomixError
from genomix.seqio.bed import BedInterval, bed_lines, parse_bed_fields, parse_bed_line
from genomix.seqio.fasta import FastaRecord, normalize_sequence
from genomix.seqio.genome import fetch_sequence

logger = logging.getLogger(__name__)

# IUPAC complements, upper and lower case: R (A/G) <-> Y (C/T), K <-> M, B <-> V, D <-> H;
# S, W and N are their own complements
_COMPLEMENT = str.maketrans("ACGTRYKMBVDHSWNacgtrykmbvdhswn", "TGCAYRMKVBHDSWNtgcayrmkvbhdswn")
_MITOCHONDRIA = {"MT": "chrM", "chrM": "MT"}


@dataclass(frozen=True)
class GenomicRecord(FastaRecord):
    """A record cut from a genome: `sequence` is read 5' to 3' on `strand`.

    Attributes:
        chrom: chromosome as the BED names it.
        start, end: 0-based, end-exclusive interval on the genome's forward strand.
        strand: ``+``, ``-`` (sequence reverse-complemented) or ``.`` (read as ``+``).
    """

    chrom: str
    start: int
    end: int
    strand: str

    def genome_interval(self, start: int, end: int) -> tuple[int, int]:
        """Bases `start..end` of the record (0-based, end-exclusive) on the genome's forward
        strand (counted from the interval's end on the minus strand)."""
        if self.strand == "-":
            return self.end - end, self.end - start
        return self.start + start, self.start + end

    def genome_positions(self, positions: np.ndarray | int) -> np.ndarray | int:
        """0-based genome positions on `chrom` of 0-based record `positions` (an int array, or
        one int); on the minus strand the record runs from `end - 1` down."""
        if self.strand == "-":
            return self.end - 1 - positions
        return self.start + positions


@dataclass(frozen=True)
class AlleleWindow(FastaRecord):
    """The reference or the alternative window of a VCF allele, as `predict-variants` scores it.

    Attributes:
        label: the allele's name (VCF ID, or ``chrom:pos:ref>alt``); the id is ``label:kind``.
        kind: ``ref`` or ``alt``.
        allele_start, allele_length: where the allele's bases lie in the window (0-based).
    """

    label: str = ""
    kind: str = "ref"
    allele_start: int = 0
    allele_length: int = 1


def reverse_complement(sequence: str) -> str:
    """Reverse complement of a DNA string: ACGT and IUPAC codes, case kept (the one complement
    table of genomix); other characters are kept as they are."""
    return sequence.translate(_COMPLEMENT)[::-1]


def match_chromosome(name: str, chromosomes: Collection[str]) -> str | None:
    """The genome's name for `name`: itself, else with ``chr`` added or removed; None if absent."""
    if name in chromosomes:
        return name
    toggled = _MITOCHONDRIA.get(name) or (name[3:] if name.startswith("chr") else f"chr{name}")
    return toggled if toggled in chromosomes else None


def describe_chromosomes(chromosomes: Collection[str], shown: int = 5) -> str:
    """``'a', 'b', ... (N in all)`` for error messages."""
    names = list(chromosomes)
    listed = ", ".join(repr(name) for name in names[:shown])
    return listed + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def read_bed_records(
    bed: str | Path,
    genome: pyfaidx.Fasta,
    *,
    skip_invalid: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[GenomicRecord]:
    """One record per BED interval of `bed` (plain or gzip), cut from `genome`, in file order.

    The id is the BED name column (4th) when present and not ``.``, else ``chrom:start-end``
    (0-based, end-exclusive, the BED's own chromosome name). Strand ``-`` (6th column) is
    reverse-complemented. ``track``/``browser``/``#`` lines and blank lines are skipped
    (``genomix.seqio.bed`` parses the lines).

    Raises:
        GenomixError: a BED without intervals; ``"{bed}: line {n}: ..."`` for a malformed line,
            an empty or out-of-range interval, a name given twice, or a chromosome the genome
            lacks (unless `skip_invalid`, which reports the
            line through `on_skip`, default a logged warning, and goes on).
    """
    bed = Path(bed)
    if not bed.is_file():
        raise GenomixError(f"{bed}: no such BED file")
    report = on_skip or logger.warning
    first_line: dict[str, int] = {}
    for line in bed_lines(bed):
        try:
            record = interval_record(parse_bed_line(line), genome, line.where)
            if record.id in first_line:
                raise GenomixError(
                    f"{line.where}: duplicate name {record.id!r} (first at line "
                    f"{first_line[record.id]}); rows would be ambiguous"
                )
            first_line[record.id] = line.number
            yield record
        except GenomixError as error:
            if not skip_invalid:
                raise
            report(str(error))


def bed_record(fields: Sequence[str], genome: pyfaidx.Fasta, where: str) -> GenomicRecord:
    """The record of one BED line split on tabs (chrom, start, end[, name, score, strand]);
    `where` is ``"{bed}: line {n}"`` for error messages."""
    return interval_record(parse_bed_fields(fields, where), genome, where)


def interval_record(interval: BedInterval, genome: pyfaidx.Fasta, where: str) -> GenomicRecord:
    """`interval` cut from `genome` (reverse-complemented on ``-``); `where` names it in errors.

    Raises:
        GenomixError: an empty or negative interval, a chromosome the genome lacks, or an
            interval past the chromosome's end.
    """
    chrom, start, end = interval.chrom, interval.start, interval.end
    if not 0 <= start < end:
        raise GenomixError(f"{where}: empty or negative interval {start}-{end}")
    found = match_chromosome(chrom, genome.keys())
    if found is None:
        raise GenomixError(
            f"{where}: chromosome {chrom!r} is not in {genome.filename} "
            f"(it has {describe_chromosomes(genome.keys())})"
        )
    length = len(genome[found])
    if end > length:
        raise GenomixError(
            f"{where}: {chrom}:{start}-{end} runs past the end of {found} ({length} bp)"
        )
    sequence = normalize_sequence(fetch_sequence(genome, found, start, end), where=where)
    if interval.strand == "-":
        sequence = reverse_complement(sequence)
    return GenomicRecord(
        id=interval.name or f"{chrom}:{start}-{end}",
        sequence=sequence,
        chrom=chrom,
        start=start,
        end=end,
        strand=interval.strand,
    )
