"""The one exception type genomix raises for bad input or bad configuration."""


class GenomixError(Exception):
    """A user-facing error: the message names the file (or key) and the problem, on one line.

    The CLI prints it as ``genomix: error: <message>`` and exits with status 1, without a traceback.
    """


class Terminated(BaseException):  # noqa: N818 -- like KeyboardInterrupt, not an Error
    """SIGTERM arrived (raised by the CLI's handler): unwinds like KeyboardInterrupt, past every
    `except Exception` and `except GenomixError`, so that temporaries are removed on the way out."""
