"""Variant effects: score the reference and the alternative window around each VCF allele.

For every ALT allele of a VCF record the model scores two windows of its input length (``W``
bases), both cut from the genome and centred on the allele: the reference window holds the
genome's bases at ``POS .. POS+len(REF)-1``, the alternative window holds ALT in their place.
Flanks come from the genome on both sides, split evenly around the allele (left flank
``(W - len(allele)) // 2``), so an insertion trims the alternative window's flanks and a deletion
extends them, symmetrically, and both windows stay ``W`` bases (as Selene does). Bases past a
chromosome end are N. The effect of an allele is, per model output, the reference score, the
alternative score and the change in log-odds ``logit(alt) - logit(ref)`` (DeepSEA, Selene), taken
from the model's logits, not from rounded probabilities: a float32 probability is 1.0 for any
logit above about 17, so its log-odds would be clipped and its change lost.

The VCF is read by a small parser of its first five fixed columns (CHROM POS ID REF ALT; plain,
gzip or BGZF), not by cyvcf2 or pysam (whose wheels bundle htslib): pysam cannot read a VCF that
is gzip-compressed but not BGZF, which is how many VCFs are shared, and both parse the sample
columns that variant-effect scoring never reads. REF is compared with the genome and reported in a
``ref_match`` column, never corrected silently. Chromosome names are matched exactly, then with
the ``chr`` prefix added or removed (``genomix.seqio.regions.match_chromosome``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyfaidx
from tqdm import tqdm

from genomix.errors import GenomixError
from genomix.predict import Predictor, load_predictor
from genomix.runtime import hide_progress
from genomix.scoring import score_logits, sigmoid
from genomix.seqio.fasta import is_readable_input, normalize_sequence, open_bytes
from genomix.seqio.genome import fetch_sequence, open_genome
from genomix.seqio.outputs import open_table
from genomix.seqio.regions import describe_chromosomes, match_chromosome

logger = logging.getLogger(__name__)

# Above this fraction of REF alleles that differ from the genome, refuse (wrong assembly?)
MAX_REF_MISMATCH = 0.1
_BASES = re.compile(r"[ACGTN]+")
# symbolic, breakend (mate or single), spanning deletion, no ALT
_NOT_SEQUENCE = re.compile(r"<.*>|.*[\[\]].*|\.?[ACGTNacgtn]+\.|\.[ACGTNacgtn]+|\*|\.")


@dataclass(frozen=True)
class Variant:
    """One ALT allele of a VCF record.

    Attributes:
        chrom: chromosome as written in the VCF.
        pos: 1-based position of the first REF base.
        id: the VCF ID column (``.`` when none).
        ref, alt: upper-case alleles; `alt` may be symbolic (``<DEL>``), a breakend or ``*``.
        line: 1-based line of the record in the VCF.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    line: int

    @property
    def is_sequence(self) -> bool:
        """True when ALT is bases (ACGTN) that can be put into a window."""
        return _BASES.fullmatch(self.alt) is not None


def read_vcf(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[Variant]:
    """Yield one Variant per ALT allele of each record of a VCF (plain, gzip or BGZF), in order.

    Lines before ``#CHROM`` are meta-information; only the first five columns of a record are
    read. Multi-allelic records give one Variant per allele.

    Raises:
        GenomixError: ``"{path}: line {n}: ..."`` for a record before the ``#CHROM`` header, fewer
            than five columns, a POS that is not a positive integer, a REF that is not ACGTN, or
            an ALT that is neither bases nor symbolic/breakend/``*``; with `skip_invalid` such
            lines are reported through `on_skip` (default: a logged warning) and skipped. A file
            without a ``#CHROM`` line or without records, and a BCF file, are always errors.
    """
    path = Path(path)
    if not is_readable_input(path):
        raise GenomixError(f"{path}: no such VCF file")
    report = on_skip or logger.warning
    header = False
    records = 0
    with open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"BCF"):
                raise GenomixError(
                    f"{path}: BCF (binary VCF) is not read; convert it: bcftools view -Oz"
                )
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("##") or not line.strip():
                continue
            if line.startswith("#CHROM"):
                header = True
                continue
            records += 1
            try:
                if not header:
                    raise GenomixError(
                        f"{path}: line {number}: record before the #CHROM header line"
                    )
                yield from _parse_record(line.split("\t", 5), number, f"{path}: line {number}")
            except GenomixError as error:
                if not skip_invalid or not header:
                    raise
                report(str(error))
    if not header:
        raise GenomixError(f"{path}: no #CHROM header line; not a VCF file")
    if not records:
        raise GenomixError(f"{path}: no variant records (only a header)")


def _parse_record(fields: list[str], number: int, where: str) -> Iterator[Variant]:
    """The Variants of one record; `fields` are its first five columns (then the rest unsplit,
    since sample columns can be megabytes); `where` is ``"{vcf}: line {n}"``."""
    if len(fields) < 5:
        raise GenomixError(f"{where}: {len(fields)} columns, expected CHROM POS ID REF ALT ...")
    chrom, pos_text, name, ref, alts = fields[:5]
    if any("\ufffd" in field for field in fields[:5]):  # decoded with errors="replace"
        raise GenomixError(f"{where}: bytes that are not UTF-8 text in CHROM, POS, ID, REF or ALT")
    if not pos_text.isdigit() or int(pos_text) < 1:
        raise GenomixError(f"{where}: POS {pos_text!r} is not a 1-based position")
    ref = ref.upper()
    if _BASES.fullmatch(ref) is None:
        raise GenomixError(f"{where}: REF {fields[3]!r} is not A, C, G, T or N bases")
    alleles = [alt.upper() if _BASES.fullmatch(alt.upper()) else alt for alt in alts.split(",")]
    for alt in alleles:
        if _BASES.fullmatch(alt) is None and _NOT_SEQUENCE.fullmatch(alt) is None:
            raise GenomixError(f"{where}: ALT allele {alt!r} is neither bases nor symbolic")
    for alt in alleles:
        yield Variant(chrom, int(pos_text), name, ref, alt, number)


def centred_windows(context: str, ref_length: int, alt: str, window: int) -> tuple[str, str]:
    """The reference and alternative windows of `window` bases centred on the allele.

    Args:
        context: `window` bases, then the genome's `ref_length` bases of the REF allele, then
            `window` bases (N past a chromosome end).
        ref_length: length of the REF allele.
        alt: the ALT allele (bases).
        window: the model's input length in bases.

    Returns:
        (ref_window, alt_window), each `window` bases: the allele with a left flank of
        ``(window - len(allele)) // 2`` bases and the rest on the right; an allele longer than
        the window gives its central `window` bases.
    """
    left_flank, right_flank = context[:window], context[window + ref_length :]

    def centred(allele: str) -> str:
        left = (window - len(allele)) // 2
        if left < 0:
            return allele[-left : window - left]
        right = window - len(allele) - left
        return left_flank[window - left :] + allele + right_flank[:right]

    return centred(context[window : window + ref_length]), centred(alt)


def allele_context(genome: pyfaidx.Fasta, chrom: str, start: int, end: int, flank: int) -> str:
    """Genome bases over ``[start - flank, end + flank)`` of `chrom`, N past either end.

    Needs ``0 <= start < end <= len(chrom)``.
    """
    lo, hi = max(0, start - flank), min(len(genome[chrom]), end + flank)
    return (
        "N" * (lo - start + flank)
        + fetch_sequence(genome, chrom, lo, hi)
        + "N" * (end + flank - hi)
    )


@dataclass(frozen=True)
class AlleleWindows:
    """What the model scores for one allele.

    Attributes:
        variant: the VCF allele.
        ref_match: the VCF's REF equals the genome at POS.
        ref_window, alt_window: `window` bases each, centred on the allele (`centred_windows`).
    """

    variant: Variant
    ref_match: bool
    ref_window: str
    alt_window: str


def allele_windows(
    variants: Iterable[Variant],
    genome: pyfaidx.Fasta,
    window: int,
    vcf: str | Path,
    *,
    skip_invalid: bool = False,
    report: Callable[[str], None] = logger.warning,
) -> Iterator[AlleleWindows]:
    """The windows of each sequence allele of `variants` (read from `vcf`) on `genome`.

    Symbolic, breakend, ``*`` and ``.`` alleles are counted and reported once at the end.

    Raises:
        GenomixError: ``"{vcf}: line {n}: ..."`` for a chromosome missing from `genome` (after
            trying the ``chr`` prefix toggled) or a REF that runs past the chromosome's end;
            with `skip_invalid` these are reported through `report` and skipped instead.
    """
    names: dict[str, str | None] = {}
    not_sequence = 0
    for variant in variants:
        where = f"{vcf}: line {variant.line}"
        if not variant.is_sequence:
            not_sequence += 1
            continue
        if variant.chrom not in names:
            names[variant.chrom] = match_chromosome(variant.chrom, genome.keys())
            if names[variant.chrom] is None:
                message = (
                    f"{where}: chromosome {variant.chrom!r} is not in {genome.filename} "
                    f"(it has {describe_chromosomes(genome.keys())}; names are matched as "
                    "written, then with 'chr' added or removed)"
                )
                if not skip_invalid:
                    raise GenomixError(message)
                report(f"{message}; its variants are not scored")
        chrom = names[variant.chrom]
        if chrom is None:
            continue
        start, end = variant.pos - 1, variant.pos - 1 + len(variant.ref)
        if end > len(genome[chrom]):
            message = f"{where}: REF at {variant.chrom}:{variant.pos} runs past the end of {chrom}"
            if not skip_invalid:
                raise GenomixError(message)
            report(message)
            continue
        context = normalize_sequence(
            allele_context(genome, chrom, start, end, window), where=f"{genome.filename}: {chrom}"
        )
        ref_window, alt_window = centred_windows(context, len(variant.ref), variant.alt, window)
        yield AlleleWindows(variant, context[window:-window] == variant.ref, ref_window, alt_window)
    if not_sequence:
        report(
            f"{vcf}: {not_sequence} ALT allele(s) are symbolic, breakends, '*' or '.' and were "
            "not scored"
        )


def effect_columns(profiles: Sequence[str]) -> tuple[list[str], list[type]]:
    """Column names and kinds of a variant-effect table (see `predict_variants`)."""
    columns = ["chrom", "pos", "id", "ref", "alt", "ref_match", "contains_unk"]
    columns += [f"{kind}:{p}" for kind in ("ref", "alt", "logit_diff") for p in profiles]
    return columns, [str, int, str, str, str, bool, bool, *[float] * (3 * len(profiles))]


def variants_from_frame(frame: pd.DataFrame) -> Iterator[Variant]:
    """Variants from a DataFrame with `chrom, pos` (1-based), `ref, alt` and optional `id`; a
    comma-separated `alt` gives one Variant per allele. `line` is the row number + 1."""
    missing = {"chrom", "pos", "ref", "alt"} - set(frame.columns)
    if missing:
        raise GenomixError(f"variants lack column(s) {', '.join(sorted(missing))}")
    ids = frame["id"] if "id" in frame else ["."] * len(frame)
    rows = zip(frame["chrom"], frame["pos"], ids, frame["ref"], frame["alt"], strict=True)
    for number, (chrom, pos, name, ref, alt) in enumerate(rows, start=1):
        fields = [str(chrom), str(pos), str(name), str(ref), str(alt)]
        yield from _parse_record(fields, number, f"variants row {number - 1}")


def variant_effects(
    predictor: Predictor,
    variants: Iterable[Variant],
    genome: pyfaidx.Fasta,
    where: str | Path,
    *,
    skip_invalid: bool = False,
    report: Callable[[str], None] = logger.warning,
    progress: Callable[[int], object] | None = None,
) -> Iterator[list[Any]]:
    """One row per sequence allele of `variants` (read from `where`), in `effect_columns` order.

    `progress`, if given, is called with the number of alleles of each scored batch.
    """
    window = predictor.window
    pad_to = predictor.tokenizer.tokens_for_length(window) + 1
    jobs = allele_windows(variants, genome, window, where, skip_invalid=skip_invalid, report=report)
    for batch in _batches(jobs, predictor.batch_size):
        windows = [j.ref_window for j in batch] + [j.alt_window for j in batch]
        logits = score_logits(
            predictor.model,
            predictor.tokenizer,
            windows,
            batch_size=predictor.batch_size,
            device=predictor.device,
            pad_to=pad_to,
        )
        ref, alt = sigmoid(logits[: len(batch)]), sigmoid(logits[len(batch) :])
        change = logits[len(batch) :].astype(np.float64) - logits[: len(batch)]
        for job, r, a, c in zip(batch, ref, alt, change, strict=True):
            v = job.variant
            unknown = "N" in job.ref_window
            yield [v.chrom, v.pos, v.id, v.ref, v.alt, job.ref_match, unknown, *r, *a, *c]
        if progress is not None:
            progress(len(batch))


def predict_variants(
    model_dir: str | Path,
    vcf: str | Path,
    genome: str | Path,
    out: str | Path,
    *,
    batch_size: int = 32,
    device: str = "auto",
    skip_invalid: bool = False,
    progress: bool | None = None,
    on_skip: Callable[[str], None] | None = None,
    output_format: str | None = None,
    region: str | None = None,
    allow_ref_mismatch: bool = False,
) -> int:
    """Score every sequence ALT allele of `vcf` against `genome`; write one row per allele.

    The model scores as it was fine-tuned (both strands averaged when `finetune.rc_average` was
    on); windows are its input length (`window_bases`).

    Columns: ``chrom, pos, id, ref, alt, ref_match, contains_unk`` (the VCF's values; ref_match:
    REF equals the genome at POS; contains_unk: the reference window holds an unknown base N,
    as Selene reports), then ``ref:<output>`` and ``alt:<output>`` probabilities and
    ``logit_diff:<output>`` = logit(alt) - logit(ref), from the model's logits, for each model
    output. `output_format`: tsv, parquet (default: parquet for a .parquet `out`) or vcf (one
    record per allele, the scores in INFO: `genomix.vcf`). `region` (``chr:start-end``) reads
    only that region of a bgzipped, indexed VCF (pysam). Returns the number of rows written.

    REF alleles that differ from the genome are counted and reported once; when more than
    `MAX_REF_MISMATCH` of them differ (the VCF is likely on another assembly) GenomixError is
    raised before the output is renamed into place, unless `allow_ref_mismatch`.
    """
    vcf = Path(vcf)
    report = on_skip or logger.warning
    predictor = load_predictor(model_dir, batch_size=batch_size, device=device)
    reference = open_genome(genome)
    if region is None:
        variants = read_vcf(vcf, skip_invalid=skip_invalid, on_skip=report)
    else:
        variants = _region_variants(vcf, region, skip_invalid=skip_invalid, report=report)
    bar = tqdm(unit="allele", desc="predict-variants", disable=hide_progress(progress))
    rows = variant_effects(
        predictor,
        variants,
        reference,
        vcf if region is None else f"{vcf} {region}",
        skip_invalid=skip_invalid,
        report=report,
        progress=bar.update,
    )
    rows = _checked_rows(rows, vcf, allow_ref_mismatch=allow_ref_mismatch)
    written = 0
    if output_format == "vcf":
        from genomix.vcf import write_effects_vcf

        def count() -> None:
            nonlocal written
            written += 1

        write_effects_vcf(
            out, rows, predictor.profiles, reference, source=str(model_dir), on_row=count
        )
    else:
        columns, kinds = effect_columns(predictor.profiles)
        with open_table(out, columns, kinds, output_format=output_format) as table:
            for row in rows:
                table.write(row)
                written += 1
    bar.close()
    logger.info("scored %d alleles -> %s", written, out)
    return written


def _checked_rows(
    rows: Iterable[list[Any]], vcf: Path, *, allow_ref_mismatch: bool
) -> Iterator[list[Any]]:
    """`rows` (in `effect_columns` order) passed on; once they are all out, REF mismatches
    (`ref_match` false) are checked by `_check_ref_mismatch`, so a refused run writes nothing."""
    total = mismatched = 0
    for row in rows:
        total += 1
        mismatched += not row[5]
        yield row
    _check_ref_mismatch(mismatched, total, vcf, allow=allow_ref_mismatch)


def _check_ref_mismatch(mismatched: int, total: int, vcf: Path, *, allow: bool) -> None:
    """Warn when REF alleles differ from the genome; refuse above MAX_REF_MISMATCH."""
    if not mismatched:
        return
    message = f"{vcf}: {mismatched} of {total} REF alleles differ from the genome (ref_match false)"
    if mismatched > MAX_REF_MISMATCH * total and not allow:
        raise GenomixError(
            f"{message}; is the VCF on another assembly? --allow-ref-mismatch scores them anyway"
        )
    logger.warning("%s", message)


def _region_variants(
    vcf: Path, region: str, *, skip_invalid: bool, report: Callable[[str], None]
) -> Iterator[Variant]:
    """The Variants of `region` of an indexed VCF, checked as `read_vcf` checks lines; `line` is
    the record's number within the region."""
    from genomix.vcf import read_vcf_region

    for number, fields in enumerate(read_vcf_region(vcf, region), start=1):
        try:
            yield from _parse_record(fields, number, f"{vcf} {region}: record {number}")
        except GenomixError as error:
            if not skip_invalid:
                raise
            report(str(error))


def _batches(jobs: Iterator[AlleleWindows], size: int) -> Iterator[list[AlleleWindows]]:
    batch: list[AlleleWindows] = []
    for job in jobs:
        batch.append(job)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
