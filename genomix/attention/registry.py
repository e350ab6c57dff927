"""The attention families by name: each class with its options dataclass.

``ATTENTION`` is the one list of family names: the config schema's `model.attention` branches,
the CLI's ``--attention`` choices and the model all read it. ``nest_attention`` is the one place
that reads the flat option keys of older genomix versions (config.json, training states,
config.yaml): ``{"attention": "bigbird", "block_size": 64, "attention_seed": 0, ...}`` ->
``{"attention": {"name": "bigbird", "block_size": 64, "random_seed": 0, ...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genomix.attention.adaptive_span import AdaptiveSpanAttention, AdaptiveSpanOptions
from genomix.attention.base import AttentionOptions, ProjectedAttention, option_fields
from genomix.attention.bigbird import BigBirdAttention, BigBirdOptions
from genomix.attention.dense import DenseAttention, DenseOptions
from genomix.attention.sparse import FixedAttention, FixedOptions, StridedAttention, StridedOptions
from genomix.errors import GenomixError

__all__ = [
    "ATTENTION",
    "DEFAULT_ATTENTION",
    "attention_options",
    "build_attention",
    "nest_attention",
    "register_attention",
]

ATTENTION: dict[str, tuple[type[ProjectedAttention], type[AttentionOptions]]] = {}

# The family of a config that names none (genomix has always defaulted to BigBird).
DEFAULT_ATTENTION = "bigbird"

# Flat `model` keys of older genomix versions -> the option each meant, per family. Keys of
# other families were saved too (every version saved them all) and meant nothing: dropped.
_FLAT_KEYS: Mapping[str, Mapping[str, str]] = {
    "dense": {},
    "bigbird": {
        "block_size": "block_size",
        "global_blocks": "global_blocks",
        "window_blocks": "window_blocks",
        "random_blocks": "random_blocks",
        "resample_random": "resample_random",
        "attention_seed": "random_seed",
    },
    "strided": {"sparse_stride": "sparse_stride", "recompute": "recompute"},
    "fixed": {
        "sparse_stride": "sparse_stride",
        "sparse_summary": "sparse_summary",
        "recompute": "recompute",
    },
    "adaptive_span": {
        "span_max": "max_span",
        "span_ramp": "ramp",
        "span_init": "init_span",
        "span_loss": "span_loss_coef",
        "span_dynamic": "dynamic",
    },
}
_ALL_FLAT_KEYS = frozenset(key for keys in _FLAT_KEYS.values() for key in keys)


def register_attention(
    attention: type[ProjectedAttention], options: type[AttentionOptions]
) -> None:
    """Make ``attention`` buildable by its options' name (``options.name``, e.g. "bigbird")."""
    name = options.__dataclass_fields__["name"].default
    if not name or name in ATTENTION:
        raise ValueError(f"attention name {name!r} is empty or registered already")
    ATTENTION[name] = (attention, options)


for _attention, _options in (
    (DenseAttention, DenseOptions),
    (BigBirdAttention, BigBirdOptions),
    (StridedAttention, StridedOptions),
    (FixedAttention, FixedOptions),
    (AdaptiveSpanAttention, AdaptiveSpanOptions),
):
    register_attention(_attention, _options)


def attention_options(values: Mapping[str, Any]) -> AttentionOptions:
    """The options dataclass of ``{"name": family, option: value, ...}`` (no name: BigBird);
    options not given take their defaults.

    Raises:
        GenomixError: unknown family, unknown option, or an invalid value (naming it).
    """
    values = dict(values)
    name = values.pop("name", DEFAULT_ATTENTION)
    if name not in ATTENTION:
        raise GenomixError(
            f"attention: unknown name {name!r} (expected one of {', '.join(ATTENTION)})"
        )
    options = ATTENTION[name][1]
    valid = [field.name for field in option_fields(options)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise GenomixError(
            f"attention {name}: unknown option(s) {', '.join(unknown)} "
            f"(valid: {', '.join(valid) or 'none'})"
        )
    try:
        return options(**values)
    except ValueError as error:
        raise GenomixError(str(error)) from None


def build_attention(
    name: str,
    options: Mapping[str, Any] | AttentionOptions,
    dim: int,
    heads: int,
    *,
    dropout: float = 0.0,
    rotary: bool = False,
) -> ProjectedAttention:
    """Build the attention family registered as ``name``.

    Args:
        name: one of ``ATTENTION`` ("dense", "bigbird", "strided", "fixed", "adaptive_span").
        options: that family's options dataclass, or its options as a mapping (missing ones
            take their defaults), e.g. ``{"block_size": 64}``.
        dim: model width D; heads: number of heads H (D % H == 0).
        dropout, rotary: see ``ProjectedAttention``.

    Returns:
        a module mapping x (B, L, D), padding_mask (B, L) bool | None -> (B, L, D).

    Raises:
        GenomixError: unknown name, unknown option, options of another family, or an invalid
            option value.
    """
    if not isinstance(options, AttentionOptions):
        options = attention_options({**options, "name": name})
    if options.name != name:
        raise GenomixError(f"attention {name}: got the options of {options.name}")
    return ATTENTION[name][0](dim, heads, options, dropout=dropout, rotary=rotary)


def nest_attention(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A `model` section with the attention options nested, from the flat form or the nested one.

    ``{"attention": "fixed", "sparse_stride": 16, "span_max": 64, "d_model": 32}`` ->
    ``{"attention": {"name": "fixed", "sparse_stride": 16}, "d_model": 32}``: flat keys are
    renamed to the option they meant for the chosen family (BigBird when none is named) and
    dropped for the others, as older versions ignored them. A nested ``attention`` mapping is
    kept, flat keys given beside it override its options. A section with neither is returned
    unchanged (a copy).
    """
    attention = flat.get("attention")
    flat_keys = {key: flat[key] for key in _ALL_FLAT_KEYS & set(flat)}
    if attention is None and not flat_keys:
        return dict(flat)
    # The flat form named the family by a string, or by nothing: BigBird, the default then.
    nested = dict(attention) if isinstance(attention, Mapping) else {"name": attention}
    if nested.get("name") is None:
        nested["name"] = DEFAULT_ATTENTION
    for key, option in _FLAT_KEYS.get(nested["name"], {}).items():
        if key in flat_keys:
            nested[option] = flat_keys[key]
    # The other keys keep their order; `attention` its place, or last when it was not given.
    model = {key: value for key, value in flat.items() if key not in flat_keys}
    model["attention"] = nested
    return model
