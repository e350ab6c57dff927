# PYTHON_ARGCOMPLETE_OK
"""`genomix <stage>`: the one entry point for users, Snakemake rules and cluster jobs.

A GenomixError (bad input, bad config) is printed as one line, `genomix: error: ...`, and the
process exits with status 1; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from genomix.command_paths import check_paths, missing_indexes
from genomix.config import (
    ChromatinConfig,
    EvaluateConfig,
    ExplainConfig,
    FinetuneConfig,
    PretrainConfig,
    ScanConfig,
    TokenizeConfig,
    add_config_arguments,
    config_from_arguments,
)
from genomix.errors import GenomixError, Terminated

if TYPE_CHECKING:
    from genomix.data.tables import LabeledTable

logger = logging.getLogger("genomix")

EPILOGS = {
    "fetch": "example:\n"
    "  genomix fetch https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/hg38.fa.gz \\\n"
    "      --checksum-url https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/md5sum.txt \\\n"
    "      --chroms chr21 chr22 -o genomes/hg38.fa",
    "tokenize": "example:\n  genomix tokenize genomes/hg38.fa -o tokens/hg38.npy --k 6 --stride 1",
    "labels": "example:\n"
    "  genomix labels genomes/dm3.fa --peaks CTCF=ctcf.bed.gz BEAF=beaf.bed.gz \\\n"
    "      --valid-chroms chrX --test-chroms chr3L -o labels/chromatin.tsv.gz",
    "promoters": "example:\n"
    "  genomix promoters genomes/hg38.fa --tss Hs_EPDnew_006_hg38.bed --bed-upstream 49 \\\n"
    "      --valid-chroms chr7 --test-chroms chr8 chr9 -o labels/promoter.tsv.gz",
    "pretrain": "example:\n  genomix pretrain tokens/hg38.npy -o models/pretrained --steps 10000 "
    "--attention bigbird",
    "finetune": "example:\n  genomix finetune --task promoter --table promoters.tsv.gz "
    "--pretrained models/pretrained --out models/promoter",
    "evaluate": "example:\n  genomix evaluate --model models/promoter --table promoters.tsv.gz "
    "--out metrics.tsv",
    "predict": "example:\n  genomix predict models/chromatin reads.fa.gz -o predictions.tsv "
    "--aggregate max\n"
    "  genomix predict models/chromatin --bed regions.bed --genome hg38.fa -o out.parquet\n"
    "  genomix predict models/chromatin --bed regions.bed --genome hg38.fa --bigwig tracks/",
    "predict-variants": "example:\n  genomix predict-variants calls.vcf.gz --genome hg19.fa "
    "--model models/chromatin -o effects.tsv",
    "scan": "example:\n  genomix scan models/chromatin hg38.fa -o scan/part3.parquet "
    "--part 3/8\n  genomix gather scan/part1.parquet ... scan/part8.parquet -o scan.parquet",
    "gather": "example:\n  genomix gather scan/part1.tsv scan/part2.tsv -o scan.tsv",
    "explain": "example:\n  genomix explain models/promoter promoters.fa -o ism.parquet --logo 4\n"
    "  genomix explain models/chromatin --bed peaks.bed --genome dm3.fa -o ism.parquet "
    "--method gradient\n"
    "  genomix explain models/chromatin --vcf calls.vcf.gz --genome dm3.fa -o v.parquet --logo 3",
    "sweep-table": "example:\n  genomix sweep-table results/sweep/dense results/sweep/bigbird "
    "\\\n      --benchmarks benchmarks/sweep/dense benchmarks/sweep/bigbird "
    "--tsv sweep.tsv --markdown sweep.md --plot sweep.png",
    "report": "example:\n  genomix report --chromatin chromatin_auroc.tsv --promoter "
    "promoter_metrics.tsv --pretrain-metrics models/pretrained/metrics.csv -o report.md",
}


def _part(text: str) -> tuple[int, int]:
    """argparse type: 'I/N' (1 <= I <= N) -> (I - 1, N)."""
    index, _, total = text.partition("/")
    if not (index.isdigit() and total.isdigit() and 1 <= int(index) <= int(total)):
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N with 1 <= I <= N (e.g. 3/8)")
    return int(index) - 1, int(total)


def _count(minimum: int):
    """argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def _add_verbosity(parser: argparse.ArgumentParser, *, default: object) -> None:
    """-v/-q on `parser`. Subcommands get them with a SUPPRESS default, so that a flag given
    before the subcommand is not reset by the subcommand's own default."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logging"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="warnings and errors only"
    )


def _subparser(
    subparsers: argparse._SubParsersAction, name: str, help_text: str
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=EPILOGS[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbosity(parser, default=argparse.SUPPRESS)
    return parser


def _add_deepsea_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deepsea-features",
        type=Path,
        metavar="FEATURES.tsv",
        help="read --table as a DeepSEA-layout CSV (no header: sequence, then one 0/1 label per "
        "row of this features TSV), split by contiguous row blocks 80/10/10 (smoke tests only); "
        "or as a directory of DeepSEA's own train/valid/test files (.mat or CSV), its split",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `genomix` and all its subcommands."""
    from genomix import __version__
    from genomix.attention.flags import add_attention_flags
    from genomix.model import EncoderConfig

    parser = argparse.ArgumentParser(prog="genomix", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"genomix {__version__}")
    _add_verbosity(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="<stage>")

    fetch = _subparser(
        commands, "fetch", "Fetch a genome (URL or path), verify it, write FASTA + .fai."
    )
    fetch.add_argument("source", help="http(s)/ftp URL, file:///abs, file:relative or a path")
    fetch.add_argument("-o", "--out", required=True, type=Path, help="output FASTA")
    fetch.add_argument("--md5", help="expected md5 of the file as downloaded")
    fetch.add_argument("--sha256", help="expected sha256 of the file as downloaded")
    fetch.add_argument(
        "--checksum-url", help="provider checksum file (UCSC md5sum.txt, Ensembl CHECKSUMS)"
    )
    fetch.add_argument("--chroms", nargs="*", default=(), help="keep only these chromosomes")
    fetch.add_argument(
        "--rename",
        choices=("keep", "ucsc", "ensembl"),
        default="keep",
        help="chromosome names: keep, ucsc (1 -> chr1), ensembl (chr1 -> 1)",
    )
    fetch.add_argument(
        "--as-is",
        action="store_true",
        help="save the verified file byte for byte (peak BED, TSS list): no FASTA rewrite or index",
    )

    tokenize = _subparser(commands, "tokenize", "Tokenize a genome into a k-mer token shard.")
    tokenize.add_argument("genome", type=Path, help="indexed FASTA (from genomix fetch)")
    tokenize.add_argument("-o", "--out", required=True, type=Path, help="token shard (.npy)")
    add_config_arguments(tokenize, TokenizeConfig, "tokenize")

    labels = _subparser(commands, "labels", "Build DeepSEA-style chromatin labels from peaks.")
    labels.add_argument("genome", type=Path, help="FASTA the peaks lie on")
    labels.add_argument(
        "--peaks",
        nargs="+",
        required=True,
        metavar="PROFILE=BED",
        help="one BED, narrowPeak or bigBed (bigNarrowPeak) file per profile",
    )
    labels.add_argument("-o", "--out", required=True, type=Path, help="labeled table (.tsv[.gz])")
    add_config_arguments(labels, ChromatinConfig, "chromatin")

    promoters = _subparser(
        commands, "promoters", "Build a promoter table (TSS windows + GC-matched negatives)."
    )
    promoters.add_argument("genome", type=Path, help="FASTA the TSS BED lies on")
    promoters.add_argument("--tss", required=True, type=Path, help="BED of TSSs or promoters")
    promoters.add_argument("-o", "--out", required=True, type=Path, help="table (.tsv[.gz])")
    promoters.add_argument(
        "--bed-upstream",
        type=_count(0),
        default=0,
        help="bases from each BED interval's 5' end to its TSS (EPDnew BED: 49; default 0)",
    )
    promoters.add_argument("--upstream", type=_count(0), default=249, help="bases before the TSS")
    promoters.add_argument("--downstream", type=_count(0), default=50, help="bases after the TSS")
    promoters.add_argument("--negatives-per-positive", type=_count(0), default=1)
    promoters.add_argument("--valid-chroms", nargs="*", default=(), help="validation chromosomes")
    promoters.add_argument("--test-chroms", nargs="+", required=True, help="test chromosomes")
    promoters.add_argument("--seed", type=_count(0), default=0, help="seed of the negatives")

    pretrain = _subparser(commands, "pretrain", "Masked-LM pretraining on token shards.")
    pretrain.add_argument("shards", nargs="+", type=Path, help="token shards (.npy)")
    pretrain.add_argument("-o", "--out", required=True, type=Path, help="model directory")
    add_config_arguments(pretrain, EncoderConfig, "model")
    add_attention_flags(pretrain)
    add_config_arguments(pretrain, PretrainConfig, "pretrain")

    finetune = _subparser(commands, "finetune", "Train a promoter or chromatin head.")
    finetune.add_argument("--task", required=True, choices=("promoter", "chromatin"))
    finetune.add_argument("--table", required=True, type=Path, help="labeled table (TSV/CSV)")
    finetune.add_argument("--genome", type=Path, help="FASTA for tables with coordinates")
    _add_deepsea_flag(finetune)
    finetune.add_argument("--pretrained", type=Path, help="pretrained model directory")
    finetune.add_argument("--out", required=True, type=Path, help="model directory")
    add_config_arguments(finetune, FinetuneConfig, "finetune")
    add_config_arguments(finetune, EncoderConfig, "model")
    add_attention_flags(finetune)
    add_config_arguments(finetune, TokenizeConfig, "tokenize")

    evaluate = _subparser(commands, "evaluate", "Metrics per profile on a table's test rows.")
    evaluate.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    evaluate.add_argument("--table", required=True, type=Path, help="labeled table (TSV/CSV)")
    evaluate.add_argument("--genome", type=Path, help="FASTA for tables with coordinates")
    _add_deepsea_flag(evaluate)
    evaluate.add_argument("--out", required=True, type=Path, help="metrics TSV")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument(
        "--max-rows", type=_count(0), default=0, help="seeded sample of rows (0 = all)"
    )
    evaluate.add_argument(
        "--seed",
        type=_count(0),
        help="seed of the table's split (default: the one the model was fine-tuned with)",
    )
    evaluate.add_argument("--batch-size", type=_count(1), default=32)
    evaluate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    evaluate.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="NAME=DIR",
        help="other fine-tuned model directories of the same task, scored on the same rows "
        "(e.g. scratch=models/promoter_scratch: the gain of pretraining, with paired intervals)",
    )
    evaluate.add_argument(
        "--predictions",
        type=Path,
        metavar="TSV",
        help="also write every model's probability per (row, profile), for ROC/PR curves",
    )
    add_config_arguments(evaluate, EvaluateConfig, "evaluate")

    predict = _subparser(
        commands, "predict", "Predict on a FASTA file or BED regions of a genome, any length."
    )
    predict.add_argument("model", type=Path, help="fine-tuned model directory")
    predict.add_argument(
        "fasta", type=Path, nargs="?", help="FASTA (plain or gzipped); or give --bed and --genome"
    )
    predict.add_argument(
        "--bed", type=Path, help="BED intervals to score (name column or chrom:start-end as id)"
    )
    predict.add_argument("--genome", type=Path, help="indexed FASTA the --bed intervals lie on")
    predict.add_argument("-o", "--out", type=Path, help="output table (.tsv, or .parquet)")
    predict.add_argument(
        "--format", choices=("tsv", "parquet"), help="output format (default: by --out suffix)"
    )
    predict.add_argument(
        "--bigwig",
        type=Path,
        metavar="DIR",
        help="with --bed: one bigWig track per model output in DIR (each base scored by the "
        "window whose centre is nearest)",
    )
    predict.add_argument(
        "--bedgraph", type=Path, metavar="DIR", help="with --bed: the same tracks as bedGraph"
    )
    predict.add_argument(
        "--stride", type=_count(1), help="bases between windows (default: half a window)"
    )
    predict.add_argument("--aggregate", choices=("max", "mean"), default="max")
    predict.add_argument("--batch-size", type=_count(1), default=32)
    predict.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    predict.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip invalid records (reported) instead of stopping",
    )
    predict.add_argument("--per-window", action="store_true", help="one row per window")
    predict.add_argument(
        "--rc-average",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average each window with its reverse complement (default: as fine-tuned)",
    )
    predict.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )

    variants = _subparser(
        commands, "predict-variants", "Variant effects: ref vs alt window scores per VCF allele."
    )
    variants.add_argument("vcf", type=Path, help="VCF (plain, gzip or bgzip)")
    variants.add_argument("--genome", required=True, type=Path, help="indexed FASTA of the VCF")
    variants.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    variants.add_argument(
        "-o", "--out", required=True, type=Path, help="output table (.tsv, or .parquet)"
    )
    variants.add_argument(
        "--format",
        choices=("tsv", "parquet", "vcf"),
        help="output format (default: by --out suffix); vcf: one record per allele, scores in INFO",
    )
    variants.add_argument(
        "--region",
        metavar="CHR:START-END",
        help="only this region of a bgzipped, tabix-indexed VCF (needs pysam)",
    )
    variants.add_argument("--batch-size", type=_count(1), default=32)
    variants.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    variants.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip malformed records and unknown chromosomes (reported) instead of stopping",
    )
    variants.add_argument(
        "--allow-ref-mismatch",
        action="store_true",
        help="score even when more than 10%% of REF alleles differ from the genome",
    )
    variants.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )

    scan = _subparser(
        commands, "scan", "Genome scan: one score per base, tiled; one part of N per job."
    )
    scan.add_argument("model", type=Path, help="fine-tuned model directory")
    scan.add_argument("genome", type=Path, help="indexed FASTA (plain or BGZF)")
    scan.add_argument("-o", "--out", required=True, type=Path, help="table (.tsv, or .parquet)")
    scan.add_argument(
        "--format", choices=("tsv", "parquet"), help="output format (default: by --out suffix)"
    )
    scan.add_argument("--chroms", nargs="+", default=(), help="chromosomes (default: all)")
    scan.add_argument(
        "--part", type=_part, default=(0, 1), metavar="I/N",
        help="scan the I-th of N equal shares of the tiles (default 1/1: all)",
    )  # fmt: skip
    add_config_arguments(scan, ScanConfig, "scan")
    scan.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    gather = _subparser(commands, "gather", "Concatenate genome-scan parts into one table.")
    gather.add_argument("parts", type=Path, nargs="+", help="part tables, in order")
    gather.add_argument("-o", "--out", required=True, type=Path, help="table (.tsv, or .parquet)")

    explain = _subparser(
        commands,
        "explain",
        "Which bases drive a prediction: the logit change of every single-base change (ISM).",
    )
    explain.add_argument("model", type=Path, help="fine-tuned model directory")
    explain.add_argument(
        "fasta", type=Path, nargs="?", help="FASTA (plain or gzipped); or give --bed and --genome"
    )
    explain.add_argument("--bed", type=Path, help="BED intervals to explain (strand-aware)")
    explain.add_argument(
        "--vcf", type=Path, help="VCF: explain the ref and alt windows predict-variants scores"
    )
    explain.add_argument(
        "--genome", type=Path, help="indexed FASTA of --bed, --vcf or --table coordinates"
    )
    explain.add_argument(
        "--table", type=Path, help="labeled table whose top-scoring rows to explain (workflow)"
    )
    explain.add_argument(
        "--predictions",
        type=Path,
        help="`genomix evaluate --predictions` TSV ranking --table rows",
    )
    explain.add_argument(
        "--top",
        type=_count(1),
        default=1,
        help="with --table: the rows of the N highest scores of each output (default 1)",
    )
    explain.add_argument(
        "-o", "--out", required=True, type=Path, help="output table (.parquet, or .tsv)"
    )
    explain.add_argument(
        "--format", choices=("tsv", "parquet"), help="output format (default: by --out suffix)"
    )
    explain.add_argument(
        "--logo",
        type=_count(0),
        default=0,
        metavar="N",
        help="draw the N highest-scoring records of each output as sequence logos (default 0)",
    )
    explain.add_argument(
        "--logo-dir",
        type=Path,
        help="folder of the logo PNGs, one per output (default: OUT with suffix .logos)",
    )
    explain.add_argument(
        "--tracks",
        type=Path,
        metavar="DIR",
        help="with --bed: write each output's importance as DIR/<output>.bedGraph",
    )
    explain.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    explain.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip records that are too long or too short or hold N (reported) instead of stopping",
    )
    explain.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    add_config_arguments(explain, ExplainConfig, "explain")

    report = _subparser(commands, "report", "Summarise a run: tables, plots, stage times.")
    report.add_argument("--chromatin", required=True, type=Path, help="chromatin metrics TSV")
    report.add_argument("--promoter", required=True, type=Path, help="promoter metrics TSV")
    report.add_argument(
        "--pretrain-metrics",
        required=True,
        nargs="+",
        type=Path,
        help="metrics.csv of each pretrained encoder (one shared, or one per head)",
    )
    report.add_argument(
        "--benchmarks",
        nargs="*",
        type=Path,
        default=(),
        help="Snakemake benchmark files, one per stage",
    )
    report.add_argument(
        "--chromatin-predictions", type=Path, help="chromatin predictions TSV (ROC/PR curves)"
    )
    report.add_argument(
        "--promoter-predictions", type=Path, help="promoter predictions TSV (ROC/PR curves)"
    )
    report.add_argument(
        "--finetune-metrics",
        nargs="*",
        default=(),
        metavar="HEAD=CSV",
        help="fine-tuning curves: a head's name and its model directory's metrics.csv",
    )
    report.add_argument(
        "--explain",
        nargs="*",
        default=(),
        metavar="HEAD=TABLE",
        help="`genomix explain` tables (their logos beside them): a section with logos per head",
    )
    report.add_argument("-o", "--out", required=True, type=Path, help="report (.md)")

    sweep = _subparser(
        commands, "sweep-table", "Gather an attention/context sweep into one table and plot."
    )
    sweep.add_argument(
        "variants",
        nargs="+",
        type=Path,
        help="one results folder per variant (pretrain/, promoter_metrics.tsv, "
        "chromatin_auroc.tsv, ...); its name names the variant",
    )
    sweep.add_argument(
        "--benchmarks",
        nargs="+",
        required=True,
        type=Path,
        help="one Snakemake benchmark folder per variant, in the same order",
    )
    sweep.add_argument(
        "--bootstrap",
        type=_count(0),
        default=0,
        help="paired resamples of the common test bins for the interval of each longer "
        "context's AUROC gain (0 = none)",
    )
    sweep.add_argument("--seed", type=_count(0), default=0, help="seed of the resamples")
    sweep.add_argument("--tsv", required=True, type=Path, help="table (.tsv)")
    sweep.add_argument("--markdown", required=True, type=Path, help="table (.md)")
    sweep.add_argument("--plot", required=True, type=Path, help="plot (.png)")
    return parser


def _named_paths(items: Sequence[str], flag: str) -> dict[str, str]:
    """`NAME=PATH` arguments of `flag` -> {name: path}; a malformed or repeated name is an error."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise GenomixError(f"{flag}: '{item}' is not NAME=PATH")
        if name in named:
            raise GenomixError(f"{flag}: '{name}' is given twice")
        named[name] = path
    return named


def _pairs(items: Sequence[str], flag: str, form: str, example: str) -> dict[str, str]:
    """HEAD=PATH items -> {head: path}; GenomixError naming `flag`, the `form` (``HEAD=CSV``)
    and an `example` for an item without both."""
    pairs = dict(item.partition("=")[::2] for item in items)
    if not all(pairs) or not all(pairs.values()):
        raise GenomixError(f"{flag}: give {form}, e.g. {example}")
    return pairs


def _given(args: argparse.Namespace, cls: type) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(cls) if f.name in vars(args)]


def _read_table(args: argparse.Namespace, *, task: str, seed: int) -> LabeledTable:
    """The labeled table of `finetune`/`evaluate`: --table, in DeepSEA layout with
    --deepsea-features (then split by contiguous row blocks, not by `seed`)."""
    if args.deepsea_features is None:
        from genomix.data.tables import read_labeled_table

        return read_labeled_table(args.table, task=task, genome=args.genome, seed=seed)
    from genomix.data.deepsea import read_deepsea_table

    if task != "chromatin":
        raise GenomixError(
            f"--deepsea-features: DeepSEA tables are chromatin profiles, not task '{task}'"
        )
    if args.genome is not None:
        raise GenomixError(
            "--genome: a DeepSEA-layout table carries its sequences; drop --genome or "
            "--deepsea-features"
        )
    return read_deepsea_table(args.table, args.deepsea_features)


def run(args: argparse.Namespace) -> None:
    """Execute one parsed subcommand."""
    from genomix.attention.flags import given_attention_flags
    from genomix.model import EncoderConfig

    if args.command == "fetch":
        from genomix.genome import fetch_genome

        if args.as_is:
            from genomix.download import fetch_file

            if args.chroms or args.rename != "keep":
                raise GenomixError("--as-is keeps the file as it is; drop --chroms/--rename")
            fetch_file(
                args.source,
                args.out,
                md5=args.md5,
                sha256=args.sha256,
                checksum_url=args.checksum_url,
            )
            return
        fetch_genome(
            args.source,
            args.out,
            md5=args.md5,
            sha256=args.sha256,
            checksum_url=args.checksum_url,
            chroms=tuple(args.chroms),
            rename=args.rename,
        )
    elif args.command == "tokenize":
        from genomix.data.pretrain import write_token_shard
        from genomix.kmers import KmerTokenizer

        config = config_from_arguments(TokenizeConfig, args, "tokenize")
        write_token_shard(args.genome, args.out, KmerTokenizer(config.k, config.stride))
    elif args.command == "labels":
        from genomix.data.labels import iter_chromatin_table, write_tables

        config = config_from_arguments(ChromatinConfig, args, "chromatin")
        chunks = iter_chromatin_table(
            args.genome,
            _named_paths(args.peaks, "--peaks"),
            bin_size=config.bin_size,
            flank=config.flank,
            margin=config.margin,
            valid_chroms=config.valid_chroms,
            test_chroms=config.test_chroms,
        )
        write_tables(chunks, args.out)  # one chromosome in memory at a time
    elif args.command == "promoters":
        from genomix.data.labels import write_table
        from genomix.data.promoters import build_promoter_table

        table = build_promoter_table(
            args.genome,
            args.tss,
            upstream=args.upstream,
            downstream=args.downstream,
            negatives_per_positive=args.negatives_per_positive,
            seed=args.seed,
            valid_chroms=tuple(args.valid_chroms),
            test_chroms=tuple(args.test_chroms),
            bed_upstream=args.bed_upstream,
            with_sequence=True,
        )
        write_table(table, args.out)
    elif args.command == "pretrain":
        from genomix.checkpoint import MODEL_DIR_FILES
        from genomix.model_files import check_model_out
        from genomix.pretrain import pretrain

        check_model_out(args.out, "mlm", MODEL_DIR_FILES)

        pretrain(
            args.shards,
            args.out,
            model_config=config_from_arguments(
                EncoderConfig, args, "model", nested={"attention": given_attention_flags(args)}
            ),
            config=config_from_arguments(PretrainConfig, args, "pretrain"),
        )
    elif args.command == "finetune":
        from genomix.checkpoint import MODEL_DIR_FILES
        from genomix.finetune import finetune
        from genomix.model_files import check_model_out

        check_model_out(args.out, "classifier", MODEL_DIR_FILES)  # before hours of training

        config = config_from_arguments(FinetuneConfig, args, "finetune")
        architecture = _given(args, EncoderConfig) + _given(args, TokenizeConfig)
        attention = given_attention_flags(args)
        architecture += [key if key != "name" else "attention" for key in attention]
        if args.pretrained and architecture:
            raise GenomixError(
                f"--{architecture[0].replace('_', '-')} sets the architecture, which comes from "
                f"--pretrained {args.pretrained}; drop one of them"
            )
        table = _read_table(args, task=args.task, seed=config.seed)
        finetune(
            table,
            args.out,
            task=args.task,
            config=config,
            pretrained=args.pretrained,
            model_config=config_from_arguments(
                EncoderConfig, args, "model", nested={"attention": attention}
            ),
            tokenize_config=config_from_arguments(TokenizeConfig, args, "tokenize"),
        )
    elif args.command == "evaluate":
        from genomix.checkpoint import read_classifier_metadata
        from genomix.evaluate import metrics_table, predictions_table, score_models
        from genomix.io import write_tsv

        config = config_from_arguments(EvaluateConfig, args, "evaluate")
        metadata = read_classifier_metadata(args.model)
        # The split must be the one fine-tuning used, or test rows may have been trained on.
        seed = metadata["finetune"]["seed"] if args.seed is None else args.seed
        table = _read_table(args, task=metadata["task"], seed=seed)
        scores = score_models(
            args.model,
            table,
            split=args.split,
            max_rows=args.max_rows,
            seed=seed,
            batch_size=args.batch_size,
            device=args.device,
            config=config,
            compare=_named_paths(args.compare, "--compare"),
        )
        write_tsv(metrics_table(scores, bootstrap=config.bootstrap, seed=seed), args.out)
        if args.predictions is not None:
            write_tsv(predictions_table(scores), args.predictions)
    elif args.command == "predict":
        from genomix.predict import predict_fasta

        if (args.fasta is None) == (args.bed is None) or (args.bed is None) != (
            args.genome is None
        ):
            raise GenomixError("predict: give either a FASTA file, or --bed with --genome")
        predict_fasta(
            args.model,
            args.fasta if args.bed is None else args.genome,
            args.out,
            bed=args.bed,
            output_format=args.format,
            stride=args.stride,
            aggregate=args.aggregate,
            batch_size=args.batch_size,
            device=args.device,
            skip_invalid=args.skip_invalid,
            per_window=args.per_window,
            progress=args.progress,
            on_skip=lambda message: logger.warning("skipped %s", message),
            rc_average=args.rc_average,
            tracks=[
                (name, directory)
                for name, directory in (("bigwig", args.bigwig), ("bedgraph", args.bedgraph))
                if directory is not None
            ],
        )
    elif args.command == "predict-variants":
        from genomix.variants import predict_variants

        predict_variants(
            args.model,
            args.vcf,
            args.genome,
            args.out,
            batch_size=args.batch_size,
            device=args.device,
            skip_invalid=args.skip_invalid,
            progress=args.progress,
            on_skip=lambda message: logger.warning("skipped %s", message),
            output_format=args.format,
            region=args.region,
            allow_ref_mismatch=args.allow_ref_mismatch,
        )
    elif args.command == "scan":
        from genomix.scan import scan_genome

        config = config_from_arguments(ScanConfig, args, "scan")
        part, parts = args.part
        scan_genome(
            args.model,
            args.genome,
            args.out,
            chroms=args.chroms,
            tile=config.tile or None,
            part=part,
            parts=parts,
            batch_size=config.batch_size,
            device=config.device,
            output_format=args.format,
            progress=args.progress,
        )
    elif args.command == "gather":
        from genomix.scan import gather_tables

        gather_tables(args.parts, args.out)
    elif args.command == "explain":
        from genomix.explain import (
            explain_fasta,
            explain_records,
            explain_variants,
            top_predicted,
        )

        config = config_from_arguments(ExplainConfig, args, "explain")
        options = {
            "method": config.method,
            "max_length": config.max_length or None,
            "batch_size": config.batch_size,
            "device": args.device,
            "skip_invalid": args.skip_invalid,
            "progress": args.progress,
            "on_skip": lambda message: logger.warning("skipped %s", message),
            "output_format": args.format,
            "logo": args.logo,
            "logo_dir": args.logo_dir,
            "logo_width": config.logo_width,
            "tracks": args.tracks,
        }
        sources = [args.fasta, args.bed, args.vcf, args.table]
        if sum(source is not None for source in sources) != 1 or (args.table is None) != (
            args.predictions is None
        ):
            raise GenomixError(
                "explain: give a FASTA file, or --bed or --vcf with --genome, or --table with "
                "--predictions"
            )
        if args.table is not None:
            from genomix.checkpoint import read_classifier_metadata
            from genomix.data.tables import read_labeled_table

            metadata = read_classifier_metadata(args.model)
            table = read_labeled_table(
                args.table,
                task=metadata["task"],
                genome=args.genome,
                seed=metadata["finetune"]["seed"],
            )
            records = top_predicted(table, args.predictions, top=args.top)
            explain_records(args.model, records, args.table, args.out, **options)
        elif args.vcf is not None:
            if args.genome is None:
                raise GenomixError("explain: --vcf needs --genome (the FASTA of its positions)")
            explain_variants(args.model, args.vcf, args.genome, args.out, **options)
        else:
            if (args.bed is None) != (args.genome is None):
                raise GenomixError("explain: --bed needs --genome (the FASTA its intervals lie on)")
            explain_fasta(
                args.model,
                args.fasta if args.bed is None else args.genome,
                args.out,
                bed=args.bed,
                **options,
            )
    elif args.command == "sweep-table":
        from genomix.sweep_report import write_sweep

        write_sweep(
            args.variants,
            args.benchmarks,
            tsv=args.tsv,
            markdown=args.markdown,
            plot=args.plot,
            bootstrap=args.bootstrap,
            seed=args.seed,
        )
    elif args.command == "report":
        from genomix.report import write_report

        curves = _pairs(
            args.finetune_metrics, "--finetune-metrics", "HEAD=CSV", "promoter=model/metrics.csv"
        )
        write_report(
            args.out,
            chromatin=args.chromatin,
            promoter=args.promoter,
            pretrain_metrics=args.pretrain_metrics,
            chromatin_predictions=args.chromatin_predictions,
            promoter_predictions=args.promoter_predictions,
            finetune_metrics=curves,
            benchmarks=args.benchmarks,
            explanations=_pairs(
                args.explain, "--explain", "HEAD=TABLE", "promoter=explain/promoter.parquet"
            ),
        )


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's tab completion, when argcomplete is installed (`completion` extra) and
    the shell asks (`eval "$(register-python-argcomplete genomix)"`); otherwise do nothing."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser, exit_method=sys.exit)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the stage; exit status 0 ok, 1 error, 130 interrupted, 143 SIGTERM.

    SIGTERM unwinds the stage like Ctrl-C (training stages save their state first), so
    temporaries are removed and no output is half-written.
    """
    parser = build_parser()
    _complete(parser)
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        print("genomix: error: -v and -q contradict each other", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    built: list[Path] = []
    try:
        built = missing_indexes(args)  # a failed run leaves no index beside its inputs
        check_paths(args)
        run(args)
        built = []
    except GenomixError as error:
        print(f"genomix: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"genomix: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genomix: error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("genomix: error: stopped by SIGTERM", file=sys.stderr)
        # objects half-built when the signal came may fail in their finalizers: not news
        sys.unraisablehook = lambda unraisable: None
        return 128 + signal.SIGTERM
    except Exception as error:  # a bug: still one line, unless -v asks for the traceback
        if args.verbose:
            raise
        print(
            f"genomix: error: unexpected {type(error).__name__}: {error} (a bug in genomix; "
            "rerun with -v for the traceback and please report it)".replace("\n", " "),
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for index in built:
            index.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
