"""`genomix fetch` (a genome, or any file, verified) and `genomix tokenize` (k-mer token shard)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.commands.command import Command, Section
from genomix.config import TokenizeConfig, config_from_arguments
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
