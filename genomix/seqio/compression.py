"""The one gzip sniffer: plain, gzip or BGZF by a file's first bytes, never by its name.

``sniff_compression`` tells the three apart from a header; ``open_bytes`` reads any of them (and
standard input or a pipe) as one binary stream, with corrupt or truncated gzip data raised as a
GenomixError naming the file.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

from genomix.errors import GenomixError

GZIP_MAGIC = b"\x1f\x8b"
HEADER_BYTES = 18  # a BGZF header: gzip's 10 bytes, XLEN, then the 6-byte ``BC`` subfield
STDIN = Path("-")

Compression = Literal["plain", "gzip", "bgzf"]


def sniff_compression(head: bytes) -> Compression:
    """``bgzf`` when ``head`` (a file's first bytes) is gzip with BGZF's ``BC`` extra subfield,
    ``gzip`` for other gzip, else ``plain``.

    Fewer than 14 bytes can only tell gzip from plain: a short BGZF header reads as ``gzip``.
    """
    if not head.startswith(GZIP_MAGIC):
        return "plain"
    if len(head) >= 14 and head[3] & 4 != 0 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def sniff_file(path: str | Path) -> Compression:
    """``sniff_compression`` of the first bytes of the file at ``path``."""
    with open(path, "rb") as handle:
        return sniff_compression(handle.read(HEADER_BYTES))


class CheckedGzipFile(gzip.GzipFile):
    """A gzip reader that raises GenomixError naming the file for corrupt or truncated data
    (gzip raises EOFError, zlib.error or BadGzipFile, from whichever read hits it)."""

    def _checked(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(self, *args)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise GenomixError(f"{self.name}: corrupt or truncated gzip data ({exc})") from None

    def read(self, size: int = -1) -> bytes:
        return self._checked(gzip.GzipFile.read, size)

    def read1(self, size: int = -1) -> bytes:
        return self._checked(gzip.GzipFile.read1, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._checked(gzip.GzipFile.readline, size)

    def peek(self, n: int = 0) -> bytes:
        return self._checked(gzip.GzipFile.peek, n)


def open_bytes(path: Path) -> IO[bytes]:
    """Open plain, gzip or bgzip ``path`` for binary reading; ``-`` is standard input.

    Gzip is recognised by the first bytes of the one open stream (peeked, not consumed), not by
    the name and not by opening twice, so pipes and standard input work. Corrupt or truncated
    gzip data raises GenomixError naming ``path`` while reading.
    """
    handle = sys.stdin.buffer if path == STDIN else path.open("rb")
    if sniff_compression(handle.peek(HEADER_BYTES)[:HEADER_BYTES]) == "plain":
        return handle
    stream = CheckedGzipFile(filename=str(path), fileobj=handle, mode="rb")
    if handle is not sys.stdin.buffer:
        stream.myfileobj = handle  # closed with the GzipFile, as gzip.open(name) arranges
    return stream
