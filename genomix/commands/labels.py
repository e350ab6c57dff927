"""`genomix labels` (chromatin labels from peaks) and `genomix promoters` (a promoter table)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.commands.command import Command, Section
from genomix.commands.options import named_paths
from genomix.config import ChromatinConfig, PromotersConfig, config_from_arguments
from genomix.errors import GenomixError


def add_labels_arguments(parser: argparse.ArgumentParser) -> None:
    """The genome, the peak files and the table of `genomix labels`."""
    parser.add_argument("genome", type=Path, help="FASTA the peaks lie on")
    parser.add_argument(
        "--peaks",
        nargs="+",
        required=True,
        metavar="PROFILE=BED",
        help="one BED, narrowPeak or bigBed (bigNarrowPeak) file per profile",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="labeled table (.tsv[.gz])")


def run_labels(args: argparse.Namespace) -> None:
    """Label every bin of the genome by the peaks of each profile, one chromosome at a time."""
    from genomix.data.labels import iter_chromatin_table, write_tables

    config = config_from_arguments(ChromatinConfig, args, "multilabel")
    chunks = iter_chromatin_table(
        args.genome,
        named_paths(args.peaks, "--peaks"),
        bin_size=config.bin_size,
        flank=config.flank,
        margin=config.margin,
        valid_chroms=config.valid_chroms,
        test_chroms=config.test_chroms,
    )
    write_tables(chunks, args.out)  # one chromosome in memory at a time


def add_promoters_arguments(parser: argparse.ArgumentParser) -> None:
    """The genome, the TSS BED and the table of `genomix promoters`."""
    parser.add_argument("genome", type=Path, help="FASTA the TSS BED lies on")
    parser.add_argument("--tss", required=True, type=Path, help="BED of TSSs or promoters")
    parser.add_argument("-o", "--out", required=True, type=Path, help="table (.tsv[.gz])")


def run_promoters(args: argparse.Namespace) -> None:
    """Write the TSS windows and their GC-matched negatives, split by chromosome."""
    from genomix.data.labels import write_table
    from genomix.data.promoters import build_promoter_table

    config = config_from_arguments(PromotersConfig, args, "promoters")
    if not config.test_chroms:
        raise GenomixError("promoters: give the test chromosomes, --test-chroms CHROM ...")
    table = build_promoter_table(
        args.genome,
        args.tss,
        upstream=config.upstream,
        downstream=config.downstream,
        negatives_per_positive=config.negatives_per_positive,
        seed=config.seed,
        valid_chroms=config.valid_chroms,
        test_chroms=config.test_chroms,
        bed_upstream=config.bed_upstream,
        with_sequence=True,
    )
    write_table(table, args.out)


LABELS = Command(
    name="labels",
    help="Build DeepSEA-style chromatin labels from peaks.",
    epilog="example:\n"
    "  genomix labels genomes/dm3.fa --peaks CTCF=ctcf.bed.gz BEAF=beaf.bed.gz \\\n"
    "      --valid-chroms chrX --test-chroms chr3L -o labels/chromatin.tsv.gz",
    add_arguments=add_labels_arguments,
    run=run_labels,
    sections=(Section(ChromatinConfig, "multilabel"),),
)
PROMOTERS = Command(
    name="promoters",
    help="Build a promoter table (TSS windows + GC-matched negatives).",
    epilog="example:\n"
    "  genomix promoters genomes/hg38.fa --tss Hs_EPDnew_006_hg38.bed --bed-upstream 49 \\\n"
    "      --valid-chroms chr7 --test-chroms chr8 chr9 -o labels/promoter.tsv.gz",
    add_arguments=add_promoters_arguments,
    run=run_promoters,
    sections=(Section(PromotersConfig, "promoters"),),
)
