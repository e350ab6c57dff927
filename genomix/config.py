"""Stage configurations: one frozen dataclass per stage, checked against one JSON Schema.

The schema (`genomix/config.schema.yaml`, package data) is shared by the Snakefile, which validates
the whole `config.yaml`, and by the CLI, which validates the flags of one stage against that stage's
section. Both therefore reject a bad value with the same message naming the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import yaml

from genomix.attention import AttentionOptions, attention_options
from genomix.embedding import EMBEDDINGS
from genomix.errors import GenomixError

if TYPE_CHECKING:  # jsonschema is imported where a config is checked: bench/device.py runs
    import jsonschema  # on GPU machines without it

SCHEMA_PATH = files("genomix") / "config.schema.yaml"

# Keys of a config section that name workflow inputs (paths, genome names): the Snakefile turns
# them into a rule's inputs, so they are not fields of the stage dataclass.
# Keys of a head (config `heads`) that override `finetune` for that head alone.
HEAD_OVERRIDES = frozenset(
    {
        "epochs",
        "max_steps",
        "eval_every",
        "checkpoint_every",
        "max_train_rows",
        "lr",
        "pooling",
        "kmer_bag",
    }
)

# A head's own encoder (workflow): `model` and `pretrain` keys over the shared sections.
HEAD_ENCODER = frozenset({"model", "pretrain"})

WORKFLOW_KEYS: Mapping[str, frozenset[str]] = {
    "pretrain": frozenset({"genomes", "gpus", "head_rows"}),
    # heads by task kind (the schema's $defs): a binary head's keys are all workflow keys
    "binary": frozenset(
        {"task", "table", "tss", "genome", "bed_upstream", "valid_chroms", "test_chroms"}
    )
    | HEAD_OVERRIDES
    | HEAD_ENCODER,
    "multilabel": frozenset({"task", "genome", "peaks"}) | HEAD_OVERRIDES | HEAD_ENCODER,
    "evaluate": frozenset({"pretraining_gain"}),
    "scan": frozenset({"head", "genome", "parts"}),
    "explain": frozenset({"records"}),
}


@dataclass(frozen=True)
class TokenizeConfig:
    """k-mer tokenizer: `k` bases per token, a token every `stride` bases."""

    k: int = 6
    stride: int = 1


POSITIONS = ("learned", "rotary")


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of the encoder and options of its attention pattern (config.yaml section `model`).

    `preset` names a set of sizes in `PRESETS`. It is applied where a config is read from keys
    (config.yaml, the CLI, `genomix.config.config_from_mapping`): the preset fills every key not
    given, keys given override it. `EncoderConfig(...)` itself takes its arguments as they are,
    and a saved model's config holds every resolved size.
    """

    PRESETS: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "none": {},
        # The demo's promoter encoder (config.yaml; its chromatin encoder adds a free k-mer
        # table: embedding both): seconds per step on a CPU.
        "tiny": {
            "d_model": 64,
            "n_layers": 2,
            "n_heads": 4,
            "d_ff": 256,
            "max_tokens": 1024,
            "dropout": 0.0,
            "positions": "rotary",
            "embedding": "factorized",
        },
        # BigBird-ITC as pretrained on DNA (Zaheer et al. 2020, genomics appendix): BERT-base
        # sizes, 4096 tokens, blocks of 64 with 2 global, 3 window and 3 random blocks.
        "base": {
            "attention": {
                "name": "bigbird",
                "block_size": 64,
                "global_blocks": 2,
                "window_blocks": 3,
                "random_blocks": 3,
            },
            "d_model": 768,
            "n_layers": 12,
            "n_heads": 12,
            "d_ff": 3072,
            "max_tokens": 4096,
        },
    }

    preset: str = "none"
    # The attention family and its options; a mapping {"name": family, option: value, ...} or
    # a family name is turned into that family's options dataclass on construction.
    attention: AttentionOptions = dataclasses.field(default_factory=lambda: attention_options({}))
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    max_tokens: int = 1024
    positions: str = "learned"
    embedding: str = "table"
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.attention, AttentionOptions):
            given = self.attention
            values = {"name": given} if isinstance(given, str) else given
            object.__setattr__(self, "attention", attention_options(values))
        if self.preset not in self.PRESETS:
            raise GenomixError(
                f"model.preset={self.preset!r} is not one of {', '.join(self.PRESETS)}"
            )
        if self.positions not in POSITIONS:
            raise GenomixError(
                f"model.positions={self.positions!r} is not one of {', '.join(POSITIONS)}"
            )
        if self.embedding not in EMBEDDINGS:
            raise GenomixError(
                f"model.embedding={self.embedding!r} is not one of {', '.join(EMBEDDINGS)}"
            )
        if self.d_model % self.n_heads:
            raise GenomixError(
                f"model.d_model={self.d_model} is not a multiple of model.n_heads={self.n_heads}"
            )
        if self.positions == "rotary" and (self.d_model // self.n_heads) % 2:
            raise GenomixError(
                f"model.positions=rotary needs an even head width; d_model/n_heads = "
                f"{self.d_model}/{self.n_heads} is odd"
            )
        conflict = self.attention.recompute_conflict()
        if self.activation_checkpointing and conflict:
            raise GenomixError(
                "model.activation_checkpointing recomputes every block in the backward pass, "
                f"where {conflict}; turn one of them off"
            )


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
    kmer_bag: bool = False
    freeze_encoder: bool = False
    rc_average: bool = False
    max_train_rows: int = 0
    max_eval_rows: int = 0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0


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
    split: str = "test"
    max_rows: int = 0
    seed: int | None = None
    batch_size: int = 32
    device: str = "auto"


@dataclass(frozen=True)
class ScanConfig:
    """Genome scan (`genomix scan`): rows of `tile` bases (0 = the model's window)."""

    tile: int = 0
    chroms: tuple[str, ...] = ()
    batch_size: int = 32
    device: str = "auto"


@dataclass(frozen=True)
class ExplainConfig:
    """Attribution of single-base changes (genomix explain): method, record length, logos."""

    method: str = "ism"
    max_length: int = 0
    batch_size: int = 64
    logo_width: int = 60
    device: str = "auto"
    skip_invalid: bool = False


@dataclass(frozen=True)
class PromotersConfig:
    """Promoter table (genomix promoters): windows around each TSS, GC-matched negatives."""

    bed_upstream: int = 0
    upstream: int = 249
    downstream: int = 50
    negatives_per_positive: int = 1
    valid_chroms: tuple[str, ...] = ()
    test_chroms: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class PredictConfig:
    """Prediction on a FASTA or BED regions (genomix predict): windows, stitching, batches."""

    stride: int | None = None
    aggregate: str = "max"
    batch_size: int = 32
    device: str = "auto"
    skip_invalid: bool = False
    per_window: bool = False
    rc_average: bool | None = None


@dataclass(frozen=True)
class VariantsConfig:
    """Variant effects (genomix predict-variants): ref vs alt window scores per VCF allele."""

    region: str | None = None
    batch_size: int = 32
    device: str = "auto"
    skip_invalid: bool = False
    allow_ref_mismatch: bool = False


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
    if len(named) != 1:
        return error
    from jsonschema.exceptions import best_match

    return best_match(named[0])


def section_schema(section: str) -> dict[str, Any]:
    """The schema of one section: a top-level one (a stage), else a head's task kind (`$defs`:
    binary, multilabel)."""
    schema = load_schema()
    return schema["properties"].get(section) or schema["$defs"][section]


def _first_error(schema: Mapping[str, Any], values: Any) -> jsonschema.ValidationError | None:
    """The most relevant error of `values` under `schema` (None when valid)."""
    import jsonschema

    return jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(values)
    )


def _describe(error: jsonschema.ValidationError) -> str:
    error = _named_branch(error)
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"{key}: {error.message}"


def validate_section(values: Mapping[str, Any], section: str, *, source: str) -> None:
    """Check one stage's values against its schema section; errors name `source` and the key."""
    schema = section_schema(section)
    error = _first_error(schema, dict(values))
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
    error = _first_error(load_schema(), config)
    if error is not None:
        raise GenomixError(f"{path}: {_describe(error)}")
    return config


Config = TypeVar("Config")


def _without_none(kind: Any) -> Any:
    """`X | None` -> X (a flag given always has a value); other hints as they are."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(kinds) == 1:
            return kinds[0]
    return kind


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, section: str) -> None:
    """Add one `--flag` per field of dataclass `cls`, documented from the schema's `section`."""
    schema = section_schema(section)["properties"]
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{section} options (config.yaml section `{section}`)")
    for field in dataclasses.fields(cls):
        kind = _without_none(hints[field.name])
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
            # the schema checks the value (one error for flags and config.yaml); the metavar
            # shows the choices, as argparse's `choices` would
            enum = schema[field.name].get("enum")
            group.add_argument(
                flag,
                dest=field.name,
                type=kind,
                default=argparse.SUPPRESS,
                metavar="{" + ",".join(map(str, enum)) + "}" if enum else None,
                help=help_text,
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
