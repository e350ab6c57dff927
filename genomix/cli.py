# PYTHON_ARGCOMPLETE_OK
"""`genomix <stage>`: the one entry point for users, Snakemake rules and cluster jobs.

A GenomixError (bad input, bad config) is printed as one line, `genomix: error: ...`, and the
process exits with status 1; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from genomix.command_paths import check_paths, missing_indexes
from genomix.commands import COMMANDS
from genomix.commands.options import add_verbosity
from genomix.errors import GenomixError, Terminated


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `genomix` and all its subcommands, one per entry of COMMANDS."""
    from genomix import __version__

    parser = argparse.ArgumentParser(prog="genomix", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"genomix {__version__}")
    add_verbosity(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for command in COMMANDS.values():
        command.add_parser(subparsers)
    return parser


def run(args: argparse.Namespace) -> None:
    """Execute one parsed subcommand."""
    COMMANDS[args.command].run(args)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's tab completion, when argcomplete is installed (`completion` extra) and
    the shell asks (`eval "$(register-python-argcomplete genomix)"`); otherwise do nothing."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser, exit_method=sys.exit)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the stage; exit status 0 ok, 1 error, 130 interrupted, 143 SIGTERM.

    SIGTERM unwinds the stage like Ctrl-C (training stages save their state first), so
    temporaries are removed and no output is half-written.
    """
    parser = build_parser()
    _complete(parser)
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        print("genomix: error: -v and -q contradict each other", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    built: list[Path] = []
    try:
        built = missing_indexes(args)  # a failed run leaves no index beside its inputs
        check_paths(args)
        run(args)
        built = []
    except GenomixError as error:
        print(f"genomix: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"genomix: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genomix: error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("genomix: error: stopped by SIGTERM", file=sys.stderr)
        # objects half-built when the signal came may fail in their finalizers: not news
        sys.unraisablehook = lambda unraisable: None
        return 128 + signal.SIGTERM
    except Exception as error:  # a bug: still one line, unless -v asks for the traceback
        if args.verbose:
            raise
        print(
            f"genomix: error: unexpected {type(error).__name__}: {error} (a bug in genomix; "
            "rerun with -v for the traceback and please report it)".replace("\n", " "),
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for index in built:
            index.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
