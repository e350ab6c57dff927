"""The one exception type genomix raises for bad input or bad configuration."""


class GenomixError(Exception):
    """A user-facing error: the message names the file (or key) and the problem, on one line.

    The CLI prints it as ``genomix: error: <message>`` and exits with status 1, without a traceback.
    """
