"""Options that several `genomix` subcommands share, each declared once here.

Stage knobs (device, batch size, skip-invalid, ...) are config fields, declared by the schema
(`genomix/config.schema.yaml`); what is here belongs to the command line itself: verbosity, the
output format, the progress bar, and argparse types.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence

from genomix.errors import GenomixError
from genomix.seqio.outputs import FORMATS

logger = logging.getLogger("genomix")


def add_verbosity(parser: argparse.ArgumentParser, *, default: object) -> None:
    """-v/-q on `parser`. Subcommands get them with a SUPPRESS default, so that a flag given
    before the subcommand is not reset by the subcommand's own default."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logging"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="warnings and errors only"
    )


def add_format(
    parser: argparse.ArgumentParser, *, choices: Sequence[str] = tuple(FORMATS), note: str = ""
) -> None:
    """--format of an output table; `note` explains an extra choice."""
    parser.add_argument(
        "--format",
        choices=tuple(choices),
        help="output format (default: by --out suffix)" + (f"; {note}" if note else ""),
    )


def add_progress(parser: argparse.ArgumentParser) -> None:
    """--progress/--no-progress: a progress bar on stderr."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )


def count(minimum: int) -> Callable[[str], int]:
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


def named_paths(items: Sequence[str], flag: str) -> dict[str, str]:
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


def report_skip(message: str) -> None:
    """`on_skip` of the stages that skip invalid records: one warning per record skipped."""
    logger.warning("skipped %s", message)
