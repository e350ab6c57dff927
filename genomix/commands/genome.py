"""`genomix fetch` (a genome, or any file, verified), `genomix tokenize` (a genome's k-mer token
shard) and `genomix tokenize-rows` (the token shard of a head's training rows)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.commands.command import Command, Section
from genomix.commands.tables import add_table_arguments, read_table
from genomix.config import FinetuneConfig, TokenizeConfig, config_from_arguments
from genomix.errors import GenomixError


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """The source, the output and the checks of `genomix fetch` (config.yaml: `genomes.<name>`)."""
    parser.add_argument("source", help="http(s)/ftp URL, file:///abs, file:relative or a path")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output FASTA")
    parser.add_argument("--md5", help="expected md5 of the file as downloaded")
    parser.add_argument("--sha256", help="expected sha256 of the file as downloaded")
    parser.add_argument(
        "--checksum-url", help="provider checksum file (UCSC md5sum.txt, Ensembl CHECKSUMS)"
    )
    parser.add_argument("--chroms", nargs="*", default=(), help="keep only these chromosomes")
    parser.add_argument(
        "--rename",
        choices=("keep", "ucsc", "ensembl"),
        default="keep",
        help="chromosome names: keep, ucsc (1 -> chr1), ensembl (chr1 -> 1)",
    )
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="save the verified file byte for byte (peak BED, TSS list): no FASTA rewrite or index",
    )


def run_fetch(args: argparse.Namespace) -> None:
    """Download (or copy), verify, and write a FASTA + .fai, or the file as it is (--as-is)."""
    from genomix.seqio.genome import fetch_genome

    if args.as_is:
        from genomix.seqio.download import fetch_file

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


def add_tokenize_arguments(parser: argparse.ArgumentParser) -> None:
    """The genome and the token shard of `genomix tokenize`."""
    parser.add_argument("genome", type=Path, help="indexed FASTA (from genomix fetch)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="token shard (.npy)")


def run_tokenize(args: argparse.Namespace) -> None:
    """Write the genome's k-mer token shard."""
    from genomix.data.pretrain import write_token_shard
    from genomix.kmers import KmerTokenizer

    config = config_from_arguments(TokenizeConfig, args, "tokenize")
    write_token_shard(args.genome, args.out, KmerTokenizer(config.k, config.stride))


def add_tokenize_rows_arguments(parser: argparse.ArgumentParser) -> None:
    """The table, the fine-tuning sample of its training rows, and the token shard."""
    parser.add_argument(
        "--task", required=True, help="task kind of the table (genomix.tasks): binary, multilabel"
    )
    add_table_arguments(parser)
    parser.add_argument(
        "--max-train-rows",
        type=int,
        default=FinetuneConfig.max_train_rows,
        help="the fine-tuning cap on training rows (0 = all): the same seeded sample (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=FinetuneConfig.seed,
        help="the fine-tuning seed: the same split and sample (default: %(default)s)",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="token shard (.npy)")


def run_tokenize_rows(args: argparse.Namespace) -> None:
    """Write the token shard of the training rows the head fine-tunes on (labels unused)."""
    import torch

    from genomix.data.pretrain import write_rows_shard
    from genomix.data.rows import training_rows
    from genomix.kmers import KmerTokenizer

    if args.max_train_rows < 0:
        raise GenomixError(f"--max-train-rows: {args.max_train_rows} is negative (0 = all rows)")
    config = config_from_arguments(TokenizeConfig, args, "tokenize")
    table = read_table(args, task=args.task, seed=args.seed, stream=True)
    # Fine-tuning draws its training sample first from a generator seeded like this one, so the
    # rows are the ones it trains on; validation and test rows are never drawn.
    train, _ = training_rows(
        table,
        task=args.task,
        max_train_rows=args.max_train_rows,
        max_eval_rows=0,
        generator=torch.Generator().manual_seed(args.seed),
    )
    write_rows_shard(
        train.sequences,
        args.out,
        KmerTokenizer(config.k, config.stride),
        where=f"{args.table}: training rows",
    )


FETCH = Command(
    name="fetch",
    help="Fetch a genome (URL or path), verify it, write FASTA + .fai.",
    epilog="example:\n"
    "  genomix fetch https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/hg38.fa.gz \\\n"
    "      --checksum-url https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/md5sum.txt \\\n"
    "      --chroms chr21 chr22 -o genomes/hg38.fa",
    add_arguments=add_fetch_arguments,
    run=run_fetch,
)
TOKENIZE = Command(
    name="tokenize",
    help="Tokenize a genome into a k-mer token shard.",
    epilog="example:\n  genomix tokenize genomes/hg38.fa -o tokens/hg38.npy --k 6 --stride 1",
    add_arguments=add_tokenize_arguments,
    run=run_tokenize,
    sections=(Section(TokenizeConfig, "tokenize"),),
)
TOKENIZE_ROWS = Command(
    name="tokenize-rows",
    help="Tokenize the training rows a head fine-tunes on (unlabelled) for pretraining.",
    epilog="The rows are the fine-tuning sample (same --max-train-rows and --seed), joined by\n"
    "one N into chromosomes of 10,000 rows ('train_rows_1', ...); validation and test rows are\n"
    "never included.\n"
    "Pretraining on them beside a genome is task-adaptive pretraining (Gururangan et al. 2020).\n"
    "example:\n  genomix tokenize-rows --task binary --table promoters.tsv.gz -o tokens/rows.npy",
    add_arguments=add_tokenize_rows_arguments,
    run=run_tokenize_rows,
    sections=(Section(TokenizeConfig, "tokenize"),),
)
