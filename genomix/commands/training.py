"""`genomix pretrain` (masked-LM on token shards) and `genomix finetune` (a promoter or
chromatin head), with the encoder's flags (config.yaml section `model`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from genomix.attention.flags import add_attention_flags, given_attention_flags
from genomix.commands.command import Command, Section
from genomix.commands.tables import add_table_arguments, read_table
from genomix.config import (
    EncoderConfig,
    FinetuneConfig,
    PretrainConfig,
    TokenizeConfig,
    add_config_arguments,
    config_from_arguments,
)
from genomix.errors import GenomixError


def add_encoder_flags(parser: argparse.ArgumentParser) -> None:
    """The encoder's flags: one per `EncoderConfig` field, then the attention options' flags
    (generated from the attention families' options dataclasses)."""
    add_config_arguments(parser, EncoderConfig, "model")
    add_attention_flags(parser)


ENCODER = Section(EncoderConfig, "model", add_flags=add_encoder_flags)


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    """The token shards and the model directory of `genomix pretrain`."""
    parser.add_argument("shards", nargs="+", type=Path, help="token shards (.npy)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="model directory")


def run_pretrain(args: argparse.Namespace) -> None:
    """Pretrain an encoder with masked-LM on the shards."""
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


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    """The task, the table, the pretrained encoder and the model directory of `genomix finetune`."""
    parser.add_argument(
        "--task",
        required=True,
        help="task kind (genomix.tasks): binary (a label column) or multilabel (one 0/1 column "
        "per profile); promoter and chromatin are their legacy names",
    )
    add_table_arguments(parser)
    parser.add_argument("--pretrained", type=Path, help="pretrained model directory")
    parser.add_argument("--out", required=True, type=Path, help="model directory")


def _given(args: argparse.Namespace, cls: type) -> list[str]:
    """The fields of `cls` given on the command line."""
    return [field.name for field in dataclasses.fields(cls) if field.name in vars(args)]


def run_finetune(args: argparse.Namespace) -> None:
    """Fine-tune a head on the table, from --pretrained or from a fresh encoder."""
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
    table = read_table(args, task=args.task, seed=config.seed, stream=True)
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


PRETRAIN = Command(
    name="pretrain",
    help="Masked-LM pretraining on token shards.",
    epilog="example:\n  genomix pretrain tokens/hg38.npy -o models/pretrained --steps 10000 "
    "--attention bigbird",
    add_arguments=add_pretrain_arguments,
    run=run_pretrain,
    sections=(ENCODER, Section(PretrainConfig, "pretrain")),
)
FINETUNE = Command(
    name="finetune",
    help="Train a promoter or chromatin head.",
    epilog="example:\n  genomix finetune --task binary --table promoters.tsv.gz "
    "--pretrained models/pretrained --out models/promoter",
    add_arguments=add_finetune_arguments,
    run=run_finetune,
    sections=(Section(FinetuneConfig, "finetune"), ENCODER, Section(TokenizeConfig, "tokenize")),
)
