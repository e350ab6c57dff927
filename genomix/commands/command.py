"""`Command`: one `genomix` subcommand as data: its name, help, config sections, arguments, run.

`genomix.cli` builds its parser from the table `genomix.commands.COMMANDS` of these and calls the
`run` of the one named on the command line, without branching on its name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from genomix.commands.options import add_verbosity
from genomix.config import add_config_arguments


@dataclass(frozen=True)
class Section:
    """One config.yaml section a command reads: its stage dataclass and the section's name.

    `add_flags` adds the section's flags; by default one per field (`add_config_arguments`).
    """

    cls: type
    name: str
    add_flags: Callable[[argparse.ArgumentParser], None] | None = None

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this section's flags to `parser`, as one argument group."""
        if self.add_flags is None:
            add_config_arguments(parser, self.cls, self.name)
        else:
            self.add_flags(parser)


@dataclass(frozen=True)
class Command:
    """A `genomix` subcommand.

    `add_arguments` declares its inputs and outputs (paths, and the options that pick them); every
    other option is a field of a `sections` dataclass, so config.yaml can set it too. `run` does
    the work from the parsed arguments.
    """

    name: str
    help: str
    epilog: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]
    sections: tuple[Section, ...] = ()

    def add_parser(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """This command's parser, added to `subparsers`: -v/-q, its arguments, its sections."""
        parser = subparsers.add_parser(
            self.name,
            help=self.help,
            description=self.help,
            epilog=self.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_verbosity(parser, default=argparse.SUPPRESS)
        self.add_arguments(parser)
        for section in self.sections:
            section.add_to(parser)
        return parser
