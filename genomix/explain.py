"""`genomix explain`: the effect of every single-base change of FASTA records, BED regions, VCF
alleles' windows or a table's top-scoring rows on a fine-tuned model's outputs, as a table, and
the records drawn as sequence logos.

Each record is scored whole, as one input of the model (no windows, so every base sees the same
context as the record's own prediction), padded like ``predict`` pads a window. Records are at
most ``max_length`` bases: by default the model's training window (``window_bases``), at most
what fits in its ``max_tokens``. Saturation ISM costs ``3L + 1`` forward passes of L bases per
record, so its time grows with the square of the length; ``--method gradient`` costs one pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from genomix.attribution import METHODS, ExplainedRecord, alternatives, importance
from genomix.bedgraph import write_bedgraphs
from genomix.checkpoint import load_classifier, read_classifier_metadata
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.logos import draw_logos
from genomix.runtime import hide_progress, resolve_device
from genomix.seqio.fasta import FastaRecord, read_fasta
from genomix.seqio.genome import open_genome
from genomix.seqio.outputs import open_table
from genomix.seqio.regions import AlleleWindow, GenomicRecord, read_bed_records
from genomix.variants import Variant, allele_windows, read_vcf

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainResult:
    """What `explain_records` did.

    Attributes:
        records: records explained.
        rows: table rows written (records x 3 x bases x outputs).
        logos: PNG files drawn, one per output (empty without `logo`).
        tracks: bedGraph files written, one per output (empty without `tracks`).
    """

    records: int
    rows: int
    logos: tuple[Path, ...] = ()
    tracks: tuple[Path, ...] = ()


def logo_folder(out: str | Path) -> Path:
    """Where the logos of the table `out` go by default: `out` with the suffix ``.logos``."""
    return Path(out).with_suffix(".logos")


def max_record_length(window: int, max_tokens: int, bases_for_tokens: Callable[[int], int]) -> int:
    """The longest record a model can take whole: its `max_tokens` less [CLS], in bases."""
    return max(window, bases_for_tokens(max_tokens - 1))


def explain_fasta(
    model_dir: str | Path,
    fasta: str | Path,
    out: str | Path,
    *,
    bed: str | Path | None = None,
    skip_invalid: bool = False,
    on_skip: Callable[[str], None] | None = None,
    **options: Any,
) -> ExplainResult:
    """`explain_records` on the records of `fasta`, or with `bed` on one record per BED interval
    of `fasta` read as an indexed genome (``genomix.seqio.regions.read_bed_records``: strand-aware;
    the table then also gives ``chrom, genome_position`` (0-based) and ``strand``)."""
    skipping = {"skip_invalid": skip_invalid, "on_skip": on_skip}
    if bed is None:
        source: Iterator[FastaRecord] = read_fasta(fasta, **skipping)
    else:
        source = read_bed_records(bed, open_genome(fasta), **skipping)
    return explain_records(
        model_dir,
        source,
        fasta if bed is None else bed,
        out,
        coordinates=bed is not None,
        **skipping,
        **options,
    )


def explain_variants(
    model_dir: str | Path,
    vcf: str | Path,
    genome: str | Path,
    out: str | Path,
    *,
    skip_invalid: bool = False,
    on_skip: Callable[[str], None] | None = None,
    **options: Any,
) -> ExplainResult:
    """`explain_records` on the two windows `predict-variants` scores for each sequence allele
    of `vcf` (``AlleleWindow`` records ``label:ref`` and ``label:alt``, label = the VCF ID or
    ``chrom:pos:ref>alt``). Logos (`logo` > 0) show the alleles of largest logit change, the
    reference window above the alternative, centred on the allele."""
    window = int(read_classifier_metadata(model_dir)["window_bases"])
    report = on_skip or logger.warning
    alleles = allele_windows(
        read_vcf(vcf, skip_invalid=skip_invalid, on_skip=report),
        open_genome(genome),
        window,
        vcf,
        skip_invalid=skip_invalid,
        report=report,
    )
    records = (
        AlleleWindow(
            id=f"{label}:{kind}",
            sequence=sequence,
            label=label,
            kind=kind,
            allele_start=(window - len(allele)) // 2,
            allele_length=len(allele),
        )
        for job in alleles
        for label in [_allele_label(job.variant)]
        for kind, sequence, allele in (
            ("ref", job.ref_window, job.variant.ref),
            ("alt", job.alt_window, job.variant.alt),
        )
    )
    return explain_records(
        model_dir, records, vcf, out, skip_invalid=skip_invalid, on_skip=on_skip, **options
    )


def _allele_label(variant: Variant) -> str:
    """A VCF allele's name: its ID when it has one, else ``chrom:pos:ref>alt``."""
    if variant.id not in ("", "."):
        return variant.id
    return f"{variant.chrom}:{variant.pos}:{variant.ref}>{variant.alt}"


def top_predicted(
    table: LabeledTable, predictions: str | Path, *, top: int, model: str = "transformer"
) -> list[FastaRecord]:
    """The rows of `table` among the `top` highest `model` probabilities of each profile in an
    evaluate `--predictions` file (columns ``id, profile`` and `model`), in table order."""
    frame = pd.read_csv(predictions, sep="\t", dtype={"id": str})
    missing = {"id", "profile", model} - set(frame.columns)
    if missing:
        raise GenomixError(f"{predictions}: no column(s) {', '.join(sorted(missing))}")
    ranked = frame.sort_values(model, ascending=False, kind="stable").groupby("profile").head(top)
    wanted = set(ranked["id"])
    unknown = wanted - set(table.ids)
    if unknown:
        raise GenomixError(f"{predictions}: row id '{min(unknown)}' is not in the table")
    return [
        FastaRecord(id=row_id, sequence=sequence)
        for row_id, sequence in zip(table.ids, table.sequences, strict=True)
        if row_id in wanted
    ]


def explain_records(
    model_dir: str | Path,
    records: Iterable[FastaRecord],
    source: str | Path,
    out: str | Path,
    *,
    coordinates: bool = False,
    method: str = "ism",
    max_length: int | None = None,
    batch_size: int = 64,
    device: str = "auto",
    skip_invalid: bool = False,
    progress: bool | None = None,
    on_skip: Callable[[str], None] | None = None,
    output_format: str | None = None,
    logo: int = 0,
    logo_dir: str | Path | None = None,
    logo_width: int = 60,
    tracks: str | Path | None = None,
) -> ExplainResult:
    """Write the effect of every single-base change of every record to `out`, atomically.

    `records` come from `source` (named in errors). Rows, one per record, position,
    alternative base and model output: ``id, position`` (0-based in the record), ``ref, alt``
    (on the record's strand), ``output`` and ``logit_diff`` = logit(alt) - logit(ref) from
    `method` (``ism`` or ``gradient``, see ``genomix.attribution``); with `coordinates` (records
    are ``GenomicRecord``) also ``chrom, genome_position, strand``. The model scores as it was
    fine-tuned (both strands averaged when `finetune.rc_average` was on).

    With `logo` > 0 the `logo` records with the highest logit of each output are drawn as logos
    of `importance` into `logo_dir` (default: `logo_folder(out)`), one PNG per output. With
    `tracks` (a folder; BED records only), each output's importance is also written as a
    bedGraph (``genomix.bedgraph``).

    Raises:
        GenomixError: a record longer than `max_length` (default: the model's window),
            shorter than one k-mer, or with a base other than ACGT (N, IUPAC):
            ``"{source}: record '{id}' ..."``; with `skip_invalid` such records are reported
            through `on_skip` and skipped.
    """
    if method not in METHODS:
        raise GenomixError(f"method '{method}' is not one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise GenomixError(f"batch size must be at least 1, got {batch_size}")
    model, tokenizer, metadata = load_classifier(model_dir)
    window = int(metadata["window_bases"])
    longest = max_record_length(window, model.encoder.config.max_tokens, tokenizer.bases_for_tokens)
    max_length = window if max_length is None else max_length
    if not tokenizer.k <= max_length <= longest:
        raise GenomixError(
            f"max length must be {tokenizer.k} to {longest} bases (what the model's "
            f"max_tokens={model.encoder.config.max_tokens} holds), got {max_length}"
        )
    torch_device = resolve_device(device)
    model.to(torch_device)
    profiles = list(metadata["profiles"])
    records = _explainable(
        records,
        source,
        k=tokenizer.k,
        max_length=max_length,
        skip_invalid=skip_invalid,
        on_skip=on_skip,
    )
    columns = ["id", "position", "ref", "alt", "output", "logit_diff"]
    kinds: list[type] = [str, int, str, str, str, float]
    if tracks is not None and not coordinates:
        raise GenomixError("genome tracks need BED regions of a genome (--bed with --genome)")
    if coordinates:
        columns += ["chrom", "genome_position", "strand"]
        kinds += [str, int, str]
    attribute = METHODS[method]
    explained, rows = 0, 0
    drawn: list[ExplainedRecord] = []
    with open_table(out, columns, kinds, output_format=output_format) as table:
        bar = tqdm(unit="mutant", desc=f"explain ({method})", disable=hide_progress(progress))
        for record in records:
            length = len(record.sequence)
            reference, diffs = attribute(
                model,
                tokenizer,
                record.sequence,
                batch_size=batch_size,
                device=torch_device,
                pad_to=tokenizer.tokens_for_length(max(window, length)) + 1,
                advance=bar.update,
            )
            for position, base in enumerate(record.sequence):
                where = _genome_columns(record, position)
                for choice, alt in enumerate(alternatives(base)):
                    for output, change in zip(profiles, diffs[position, choice], strict=True):
                        table.write([record.id, position, base, alt, output, change, *where])
            rows += 3 * length * len(profiles)
            explained += 1
            if logo > 0 or tracks is not None:
                drawn.append(ExplainedRecord(record, reference, importance(diffs)))
        bar.close()
    logos: tuple[Path, ...] = ()
    if logo > 0:
        folder = Path(logo_dir) if logo_dir is not None else logo_folder(out)
        logos = draw_logos(drawn, profiles, folder, top=logo, width=logo_width, method=method)
    bedgraphs = () if tracks is None else write_bedgraphs(drawn, profiles, tracks)
    logger.info("explained %d records (%d rows) -> %s", explained, rows, out)
    return ExplainResult(explained, rows, logos, bedgraphs)


def _genome_columns(record: FastaRecord, position: int) -> list[object]:
    """``chrom, genome_position, strand`` of a base of a BED record; none for FASTA records."""
    if not isinstance(record, GenomicRecord):
        return []
    return [record.chrom, record.genome_positions(position), record.strand]


def _explainable(
    records: Iterable[FastaRecord],
    source: str | Path,
    *,
    k: int,
    max_length: int,
    skip_invalid: bool,
    on_skip: Callable[[str], None] | None,
) -> Iterator[FastaRecord]:
    """Records of k to `max_length` ACGT bases; others are refused, or skipped and reported."""
    for record in records:
        length = len(record.sequence)
        unknown = record.sequence.find("N")
        if length > max_length:
            problem = (
                f"is {length} bp, longer than the max length {max_length} (raise --max-length "
                "up to what the model holds, or cut the record into windows)"
            )
        elif length < k:
            problem = f"is {length} bp, shorter than one {k}-mer"
        elif unknown >= 0:
            problem = (
                f"has N (or an IUPAC code) at position {unknown}; mutagenesis needs A, C, G, T "
                "bases"
            )
        else:
            yield record
            continue
        message = f"{source}: record '{record.id}' {problem}"
        if not skip_invalid:
            raise GenomixError(message)
        (on_skip or logger.warning)(message)
