"""FASTA text: read user files strictly (``read_fasta``), rewrite genomes with even lines.

Biopython's ``SimpleFastaParser`` does the parsing; this module adds what it lets through
silently: an empty file, a UTF-8 byte-order mark, text that does not start with ``>``, empty
records, duplicate names, and non-DNA characters (protein letters, digits, gaps, binary junk).
Gzip input is recognised by its magic bytes, not by the file name. ``rewrite_fasta`` gives a
genome the even line widths pyfaidx needs, for ``genomix.genome.fetch_genome``.
"""

from __future__ import annotations

import gzip
import io
import logging
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genomix.errors import GenomixError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
_IUPAC_AMBIGUOUS = "RYSWKMBDHVN"
_EXPECTED = "(expected A C G T N or an IUPAC code)"
_CHUNK = 1 << 20


def _build_table() -> np.ndarray:
    """Byte -> output byte lookup: ACGT (any case) kept upper-case, IUPAC ambiguity -> N, else 0.

    Returns:
        table: (256,) uint8; 0 marks a byte that is not allowed in a DNA sequence.
    """
    table = np.zeros(256, dtype=np.uint8)
    for base in "ACGT":
        table[ord(base)] = table[ord(base.lower())] = ord(base)
    for code in _IUPAC_AMBIGUOUS:
        table[ord(code)] = table[ord(code.lower())] = ord("N")
    return table


# byte -> A C G T or N (IUPAC ambiguity codes, any case); 0 for anything else.
NUCLEOTIDE_TABLE = _build_table()


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record after validation.

    Attributes:
        id: first word of the header line.
        sequence: upper-case, alphabet A C G T N only.
    """

    id: str
    sequence: str


def _describe(char: str) -> str:
    """Readable name of a refused character, including bytes that were not UTF-8."""
    if "\udc80" <= char <= "\udcff":  # a byte that failed UTF-8 decoding (surrogateescape)
        return f"byte 0x{ord(char) - 0xDC00:02x} (not UTF-8 text)"
    hint = " (alignment gap; give unaligned sequence)" if char in "-." else ""
    return f"{char!r}{hint}"


def normalize_sequence(seq: str, *, where: str) -> str:
    """Upper-case ``seq`` and map IUPAC ambiguity codes (RYSWKMBDHVN) to N.

    Vectorised with a numpy byte lookup table, not a Python loop per base.

    Args:
        seq: the raw sequence (any case).
        where: context for the error message, e.g. ``"reads.fa: record 'chr1'"``.

    Returns:
        The sequence over the alphabet A C G T N, same length as ``seq``.

    Raises:
        GenomixError: ``"{where} position {i}: invalid character ..."`` for the first
            character that is not a nucleotide code (``i`` is 1-based).
    """
    if not seq.isascii():
        i = next(i for i, char in enumerate(seq) if not char.isascii())
        raise GenomixError(
            f"{where} position {i + 1}: invalid character {_describe(seq[i])} {_EXPECTED}"
        )
    mapped = NUCLEOTIDE_TABLE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    bad = np.flatnonzero(mapped == 0)
    if bad.size:
        i = int(bad[0])
        raise GenomixError(
            f"{where} position {i + 1}: invalid character {_describe(seq[i])} {_EXPECTED}"
        )
    return mapped.tobytes().decode("ascii")


STDIN = Path("-")


def is_readable_input(path: Path) -> bool:
    """True for ``-`` (standard input), a file, or a pipe such as ``<(zcat x.fa.gz)``."""
    return path == STDIN or path.is_file() or path.is_fifo() or path.is_char_device()


def open_bytes(path: Path) -> IO[bytes]:
    """Open plain, gzip or bgzip ``path`` for binary reading; ``-`` is standard input.

    Gzip is recognised by the first bytes of the one open stream (peeked, not consumed), not by
    the name and not by opening twice, so pipes and standard input work.
    """
    handle = sys.stdin.buffer if path == STDIN else path.open("rb")
    if handle.peek(2)[:2] != GZIP_MAGIC:
        return handle
    stream = gzip.GzipFile(fileobj=handle, mode="rb")
    if handle is not sys.stdin.buffer:
        stream.myfileobj = handle  # closed with the GzipFile, as gzip.open(name) arranges
    return stream


def _open_text(path: Path) -> IO[str]:
    """Open ``path`` as text: gzip sniffed by magic bytes, BOM dropped, CRLF folded to LF.

    Bytes that are not UTF-8 survive as lone surrogates so that validation can point at them.
    """
    return io.TextIOWrapper(
        open_bytes(path), encoding="utf-8-sig", errors="surrogateescape", newline=None
    )


def _tracked_lines(handle: IO[str], label: str, header_lines: list[int]) -> Iterator[str]:
    """Yield the lines of ``handle``, recording the 1-based line number of every header.

    Raises:
        GenomixError: the first non-blank line does not start with ``>`` (Biopython would skip
            such text and may return zero records without a word).
    """
    started = False
    for lineno, line in enumerate(handle, 1):
        if line.startswith(">"):
            started = True
            header_lines.append(lineno)
        elif not started and line.strip():
            raise GenomixError(
                f"{label}: line {lineno}: expected a FASTA header starting with '>', "
                f"got {line.strip()[:40]!r}"
            )
        yield line


def _parse(handle: IO[str], label: str) -> Iterator[tuple[str, str, int]]:
    """Yield (title, raw sequence, header line number) for each record in ``handle``."""
    header_lines: list[int] = []
    for index, (title, seq) in enumerate(
        SimpleFastaParser(_tracked_lines(handle, label, header_lines))
    ):
        yield title, seq, header_lines[index]


def read_fasta(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[FastaRecord]:
    """Yield the validated records of a FASTA file (plain or gzip).

    Records may span many lines and use CRLF line endings; bases are upper-cased and IUPAC
    ambiguity codes become N. Errors are raised lazily, while iterating.

    Args:
        path: FASTA file; gzip is detected from its first bytes.
        skip_invalid: skip records with invalid characters, an empty sequence, an empty name
            or a duplicate name, instead of raising.
        on_skip: called with the one-line reason for each skipped record; defaults to a
            logged warning.

    Yields:
        FastaRecord per valid record, in file order.

    Raises:
        GenomixError: missing file, empty file or no ``>`` header, corrupt gzip, and (unless
            ``skip_invalid``) any invalid record, e.g.
            ``reads.fa: record 'chr1' position 17: invalid character 'Z' (...)``.
    """
    path = Path(path)
    label = str(path)
    if not is_readable_input(path):
        raise GenomixError(f"{label}: no such FASTA file")
    report = on_skip if on_skip is not None else log.warning
    first_line: dict[str, int] = {}
    n_records = 0
    try:
        with _open_text(path) as handle:
            for title, raw, lineno in _parse(handle, label):
                n_records += 1
                try:
                    record = _validate(title, raw, lineno, label, first_line)
                except GenomixError as exc:
                    if not skip_invalid:
                        raise
                    report(str(exc))
                    continue
                yield record
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GenomixError(f"{label}: corrupt or truncated gzip data ({exc})") from exc
    if n_records == 0:
        raise GenomixError(f"{label}: no FASTA records (empty file, or no line starts with '>')")


def _validate(
    title: str, raw: str, lineno: int, label: str, first_line: dict[str, int]
) -> FastaRecord:
    """Check one parsed record; ``first_line`` maps names seen so far to their header line."""
    words = title.split(None, 1)
    if not words:
        raise GenomixError(f"{label}: line {lineno}: record header has no name")
    name = words[0]
    if name in first_line:
        raise GenomixError(
            f"{label}: duplicate record name {name!r} at lines {first_line[name]} and {lineno}"
        )
    first_line[name] = lineno
    where = f"{label}: record {name!r}"
    if not raw:
        raise GenomixError(f"{where} (line {lineno}): empty sequence")
    return FastaRecord(id=name, sequence=normalize_sequence(raw, where=where))


def _wrap(data: bytes | bytearray, width: int) -> bytes:
    """``data`` cut into lines of ``width`` columns, each newline-terminated."""
    view = memoryview(data)
    return b"".join(bytes(view[i : i + width]) + b"\n" for i in range(0, len(data), width))


def rewrite_fasta(
    src: Path,
    dest: IO[bytes],
    *,
    label: str,
    chroms: Sequence[str] = (),
    rename: Callable[[str], str] = str,
    width: int = 60,
) -> None:
    """Stream ``src`` (plain/gzip/bgzip) into ``dest`` with even ``width``-column lines.

    Streams in constant memory, so whole chromosomes are fine. Case (soft-masking) is kept;
    the sequence is not validated. A record is kept when ``chroms`` is empty or holds its name
    before or after ``rename``; headers get the renamed first word and keep the description.

    Raises:
        GenomixError (naming ``label``): no records, text before the first header, a header
            without a name, duplicate output names, or a requested chromosome missing.
    """
    wanted = set(chroms)
    found: set[str] = set()
    written: dict[str, int] = {}
    names: list[str] = []
    keep, buf = False, bytearray()
    with open_bytes(src) as fin:
        for lineno, line in enumerate(fin, 1):
            if line.startswith(b">"):
                if keep:
                    dest.write(_wrap(buf, width))
                    buf.clear()
                words = line[1:].decode("utf-8", "replace").split(None, 1)
                if not words:
                    raise GenomixError(f"{label}: line {lineno}: header without a name")
                name, new = words[0], rename(words[0])
                names.append(name)
                keep = not wanted or bool({name, new} & wanted)
                if not keep:
                    continue
                if new in written:
                    raise GenomixError(
                        f"{label}: line {lineno}: duplicate sequence name {new!r} "
                        f"(first at line {written[new]})"
                    )
                written[new] = lineno
                found.update((name, new))
                dest.write(b">" + " ".join([new, *words[1:]]).rstrip().encode() + b"\n")
            elif not names:
                if line.strip():
                    raise GenomixError(
                        f"{label}: line {lineno}: FASTA must start with a '>' header"
                    )
            elif keep:
                buf += line.rstrip()
                if len(buf) >= _CHUNK:  # flush whole lines, keep the remainder for the next
                    cut = len(buf) - len(buf) % width
                    dest.write(_wrap(buf[:cut], width))
                    del buf[:cut]
        if keep:
            dest.write(_wrap(buf, width))
    if not names:
        raise GenomixError(f"{label}: no FASTA records")
    missing = [c for c in chroms if c not in found]
    if missing:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise GenomixError(
            f"{label}: chromosome(s) {', '.join(missing)} not in the file (it has {shown})"
        )
