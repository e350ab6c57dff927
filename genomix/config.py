"""Stage configurations: one frozen dataclass per stage, checked against one JSON Schema.

The schema (`genomix/config.schema.yaml`, package data) is shared by the Snakefile, which validates
the whole `config.yaml`, and by the CLI, which validates the flags of one stage against that stage's
section. Both therefore reject a bad value with the same message naming the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml

from genomix.errors import GenomixError

SCHEMA_PATH = files("genomix") / "config.schema.yaml"

# Keys of a config section that name workflow inputs (paths, genome names): the Snakefile turns
# them into a rule's inputs, so they are not fields of the stage dataclass.
# Keys of the `promoter` and `chromatin` sections that override `finetune` for that head alone.
HEAD_OVERRIDES = frozenset(
    {"epochs", "max_steps", "eval_every", "checkpoint_every", "max_train_rows", "lr", "pooling"}
)

# A head's own encoder (workflow): `model` and `pretrain` keys over the shared sections.
HEAD_ENCODER = frozenset({"model", "pretrain"})

WORKFLOW_KEYS: Mapping[str, frozenset[str]] = {
    "pretrain": frozenset({"genomes", "gpus"}),
    "promoter": frozenset({"table", "tss", "genome", "bed_upstream", "valid_chroms", "test_chroms"})
    | HEAD_OVERRIDES
    | HEAD_ENCODER,
    "chromatin": frozenset({"genome", "peaks"}) | HEAD_OVERRIDES | HEAD_ENCODER,
    "evaluate": frozenset({"pretraining_gain"}),
    "scan": frozenset({"head", "genome", "parts"}),
    "explain": frozenset({"records"}),
}


@dataclass(frozen=True)
class TokenizeConfig:
    """k-mer tokenizer: `k` bases per token, a token every `stride` bases."""

    k: int = 6
    stride: int = 1


@dataclass(frozen=True)
class PretrainConfig:
    """Masked-LM pretraining on token shards."""

    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    mask_prob: float = 0.15
    max_unknown: float = 0.5
    valid_fraction: float = 0.05
    valid_chroms: tuple[str, ...] = ()
    eval_every: int = 50
    eval_batches: int = 4
    checkpoint_every: int = 100
    grad_accum_steps: int = 1
    precision: str = "fp32"
    compile: bool = False
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning of a promoter or chromatin head."""

    epochs: int = 3
    max_steps: int = 0
    eval_every: int = 0
    checkpoint_every: int = 0
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    patience: int = 2
    pooling: str = "cls"
    freeze_encoder: bool = False
    rc_average: bool = False
    max_train_rows: int = 0
    max_eval_rows: int = 0
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class ChromatinConfig:
    """DeepSEA-style labels: `bin_size` bins, `flank` bp of context each side, held-out chroms."""

    bin_size: int = 200
    flank: int = 400
    margin: int = 0
    valid_chroms: tuple[str, ...] = ()
    test_chroms: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvaluateConfig:
    """Held-out evaluation: bootstrap intervals and baselines trained on the fine-tuning rows."""

    bootstrap: int = 0
    baselines: tuple[str, ...] = ()
    kmer_k: int = 4
    cnn_epochs: int = 5


@dataclass(frozen=True)
class ScanConfig:
    """Genome scan (`genomix scan`): rows of `tile` bases (0 = the model's window)."""

    tile: int = 0
    batch_size: int = 32
    device: str = "auto"


@dataclass(frozen=True)
class ExplainConfig:
    """Attribution of single-base changes (genomix explain): method, record length, logos."""

    method: str = "ism"
    max_length: int = 0
    batch_size: int = 64
    logo_width: int = 60


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema of config.yaml, as a dict."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _named_branch(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a `oneOf` of branches told apart by `name` (model.attention): the error inside the
    branch the value names, rather than "not valid under any of the given schemas"."""
    if error.validator != "oneOf" or not isinstance(error.instance, Mapping):
        return error
    branches: dict[int, list[jsonschema.ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    named = [
        errors
        for errors in branches.values()
        if not any(list(sub.relative_path) == ["name"] for sub in errors)
    ]
    return jsonschema.exceptions.best_match(named[0]) if len(named) == 1 else error


def _describe(error: jsonschema.ValidationError) -> str:
    error = _named_branch(error)
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"{key}: {error.message}"


def validate_section(values: Mapping[str, Any], section: str, *, source: str) -> None:
    """Check one stage's values against its schema section; errors name `source` and the key."""
    schema = load_schema()["properties"][section]
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(dict(values))
    )
    if error is not None:
        raise GenomixError(f"{source}: {section}.{_describe(error)}")


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a whole config.yaml; GenomixError names the file and the key."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GenomixError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise GenomixError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(load_schema()).iter_errors(config)
    )
    if error is not None:
        raise GenomixError(f"{path}: {_describe(error)}")
    return config


Config = TypeVar("Config")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, section: str) -> None:
    """Add one `--flag` per field of dataclass `cls`, documented from the schema's `section`."""
    schema = load_schema()["properties"][section]["properties"]
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{section} options (config.yaml section `{section}`)")
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            continue  # nested options (model.attention) have their own flags
        flag = "--" + field.name.replace("_", "-")
        help_text = f"{schema[field.name]['description']} (default: {field.default})"
        if kind is bool:
            group.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif typing.get_origin(kind) is tuple:
            group.add_argument(
                flag, dest=field.name, nargs="*", default=argparse.SUPPRESS, help=help_text
            )
        else:
            group.add_argument(
                flag, dest=field.name, type=kind, default=argparse.SUPPRESS, help=help_text
            )


def config_from_arguments(
    cls: type[Config],
    args: argparse.Namespace,
    section: str,
    *,
    nested: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Build `cls` from the flags given (others keep their defaults), validated like config.yaml.

    `nested`: values of nested fields gathered from their own flags, e.g.
    `{"attention": genomix.attention.flags.given_attention_flags(args)}`; empty ones are left out.
    """
    names = {field.name for field in dataclasses.fields(cls)}
    given = {name: value for name, value in vars(args).items() if name in names}
    given.update({name: value for name, value in (nested or {}).items() if value})
    validate_section(given, section, source="command line")
    return config_from_mapping(cls, given)


def config_from_mapping(cls: type[Config], values: Mapping[str, Any]) -> Config:
    """Build `cls` from field values (lists become tuples); unknown keys are an error.

    A dataclass with a `PRESETS` class attribute (preset name -> field values, e.g.
    `EncoderConfig`) resolves its `preset` field here: the named preset fills every field that
    `values` does not give; the fields given override it.
    """
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise GenomixError(f"{cls.__name__}: unknown option(s) {', '.join(unknown)}")
    presets = getattr(cls, "PRESETS", None)
    if presets is not None and "preset" in values:
        # An unknown name adds nothing here; the dataclass's own check names it.
        values = _over_preset(presets.get(values["preset"], {}), values)
    return cls(**{key: tuple(v) if isinstance(v, list) else v for key, v in values.items()})


def _over_preset(preset: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` over `preset`, key by key; a nested mapping (`attention`) is merged key by key
    too when it names no other `name` than the preset's, and replaces the preset's otherwise."""
    merged = dict(preset)
    for key, value in values.items():
        base = merged.get(key)
        if (
            isinstance(base, Mapping)
            and isinstance(value, Mapping)
            and value.get("name", base.get("name")) == base.get("name")
        ):
            value = {**base, **value}
        merged[key] = value
    return merged
