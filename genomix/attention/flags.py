"""Command-line flags of the attention options, generated from the options dataclasses.

``--attention NAME`` picks the family; every option of every family is one flag named as the
option (``block_size`` -> ``--block-size``), shared by the families that have that option. The
flags given become the nested config form ``{"name": ..., option: value}``, checked like
config.yaml's `model.attention`; an option of another family than the one named is an error.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any

from genomix.attention.base import option_fields
from genomix.attention.registry import ATTENTION, DEFAULT_ATTENTION
from genomix.config import load_schema

__all__ = ["add_attention_flags", "given_attention_flags"]

# argparse destinations: "attention.<option>", apart from every other flag's.
_PREFIX = "attention."


def _options_by_name() -> dict[str, list[tuple[str, type, str]]]:
    """option -> [(family, type, help), ...] over every registered family; the help is the
    description of the option in that family's branch of the schema, and its default."""
    branches = load_schema()["properties"]["model"]["properties"]["attention"]["oneOf"]
    described = {branch["properties"]["name"]["const"]: branch["properties"] for branch in branches}
    found: dict[str, list[tuple[str, type, str]]] = {}
    for name, (_, options) in ATTENTION.items():
        hints = typing.get_type_hints(options)
        for field in option_fields(options):
            description = described[name][field.name]["description"]
            help_text = f"{name}: {description} (default: {field.default})"
            found.setdefault(field.name, []).append((name, hints[field.name], help_text))
    return found


def add_attention_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--attention`` and one flag per attention option to ``parser`` (one group)."""
    group = parser.add_argument_group(
        "attention options (config.yaml `model.attention`; each flag applies to the families "
        "named in its help)"
    )
    group.add_argument(
        "--attention",
        dest=_PREFIX + "name",
        choices=tuple(ATTENTION),
        default=argparse.SUPPRESS,
        help=f"attention family (default: {DEFAULT_ATTENTION})",
    )
    for option, families in _options_by_name().items():
        kinds = {kind for _, kind, _ in families}
        if len(kinds) != 1:
            raise TypeError(f"attention option {option} has types {kinds} in different families")
        kind = kinds.pop()
        flag = "--" + option.replace("_", "-")
        help_text = "; ".join(text for _, _, text in families)
        if kind is bool:
            group.add_argument(
                flag,
                dest=_PREFIX + option,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                flag,
                dest=_PREFIX + option,
                type=kind,
                metavar=option.upper(),
                default=argparse.SUPPRESS,
                help=help_text,
            )


def given_attention_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The attention flags given, nested: ``{"name": family, option: value, ...}``; ``{}`` when
    none was given. Options given without ``--attention`` are the default family's."""
    given = {
        key.removeprefix(_PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(_PREFIX)
    }
    if given:
        given.setdefault("name", DEFAULT_ATTENTION)
    return given
