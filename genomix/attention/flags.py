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

__all__ = ["add_attention_flags", "given_attention_flags"]

# argparse destinations: "attention.<option>", apart from every other flag's.
_PREFIX = "attention."


def _options_by_name() -> dict[str, list[tuple[str, type, object]]]:
    """option -> [(family, type, default), ...] over every registered family."""
    found: dict[str, list[tuple[str, type, object]]] = {}
    for name, (_, options) in ATTENTION.items():
        hints = typing.get_type_hints(options)
        for field in option_fields(options):
            found.setdefault(field.name, []).append((name, hints[field.name], field.default))
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
        defaults = ", ".join(f"{family} {default}" for family, _, default in families)
        flag = "--" + option.replace("_", "-")
        help_text = f"{', '.join(f for f, _, _ in families)}: {option} (default: {defaults})"
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
                flag, dest=_PREFIX + option, type=kind, default=argparse.SUPPRESS, help=help_text
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
