"""The `genomix` subcommands: `COMMANDS`, one `Command` per subcommand, in `genomix --help` order.

Each module groups the commands of one part of the pipeline; `genomix.cli` builds its parser from
this table and runs the command named on the command line.
"""

from __future__ import annotations

from genomix.commands.command import Command, Section
from genomix.commands.evaluation import EVALUATE
from genomix.commands.explain import EXPLAIN
from genomix.commands.genome import FETCH, TOKENIZE, TOKENIZE_ROWS
from genomix.commands.inference import GATHER, PREDICT, SCAN, VARIANTS
from genomix.commands.labels import LABELS, PROMOTERS
from genomix.commands.report import REPORT, SWEEP_TABLE
from genomix.commands.training import FINETUNE, PRETRAIN

COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        FETCH,
        TOKENIZE,
        TOKENIZE_ROWS,
        LABELS,
        PROMOTERS,
        PRETRAIN,
        FINETUNE,
        EVALUATE,
        PREDICT,
        VARIANTS,
        SCAN,
        GATHER,
        EXPLAIN,
        REPORT,
        SWEEP_TABLE,
    )
}

__all__ = ["COMMANDS", "Command", "Section"]
