"""FASTA text: read user files strictly (``stream_fasta``, a record a megabase at a time, and
``read_fasta``, whole records), rewrite genomes with even lines.

Refused, naming the file and line or record: an empty file, text that does not start with
``>``, a header without a name or with a name that is not UTF-8, empty records, duplicate names,
and non-DNA characters (protein letters, digits, gaps, binary junk); a UTF-8 byte-order mark
and CRLF line ends are accepted. Gzip input is recognised by its magic bytes, not by the file
name, and a corrupt or truncated one is an error naming the file. ``rewrite_fasta`` gives a
genome the even line widths pyfaidx needs, for ``genomix.seqio.genome.fetch_genome``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from genomix.errors import GenomixError
from genomix.seqio.compression import STDIN, open_bytes

log = logging.getLogger(__name__)

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


def check_alphabet(data: bytes | bytearray | str, *, where: str, offset: int = 0) -> None:
    """Refuse sequence bytes that are not nucleotide codes (ACGT, IUPAC, any case).

    Args:
        data: raw sequence (no newlines).
        where: context for the message, e.g. ``"hg38.fa: record 'chr1'"``.
        offset: bases of the record before `data`, so the position is the record's (1-based).

    Raises:
        GenomixError: ``"{where} position {i}: invalid character ..."`` at the first bad byte.
    """
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    bad = np.flatnonzero(NUCLEOTIDE_TABLE[np.frombuffer(raw, dtype=np.uint8)] == 0)
    if bad.size:
        i = int(bad[0])
        char = bytes(raw[i : i + 1]).decode("ascii", "surrogateescape")
        raise GenomixError(
            f"{where} position {offset + i + 1}: invalid character {_describe(char)} {_EXPECTED}"
        )


def record_name(header: bytes, *, where: str) -> str:
    """The first word of a FASTA header line's bytes (after ``>``); it must be UTF-8 text.

    Raises:
        GenomixError: no name, or bytes that are not UTF-8 (names end up in output tables).
    """
    words = header.split(None, 1)
    if not words:
        raise GenomixError(f"{where}: record header has no name")
    try:
        return words[0].decode("utf-8")
    except UnicodeDecodeError as error:
        raise GenomixError(
            f"{where}: record name {words[0]!r} has byte 0x{words[0][error.start]:02x} "
            "(not UTF-8 text)"
        ) from None


def is_readable_input(path: Path) -> bool:
    """True for ``-`` (standard input), a file, or a pipe such as ``<(zcat x.fa.gz)``."""
    return path == STDIN or path.is_file() or path.is_fifo() or path.is_char_device()


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
    report = on_skip if on_skip is not None else log.warning
    for stream in stream_fasta(path):
        try:
            sequence = "".join(stream.chunks)
        except GenomixError as exc:
            if not skip_invalid:
                raise
            report(str(exc))
            continue
        yield FastaRecord(id=stream.id, sequence=sequence)


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
    bases must be nucleotide codes (ACGT or IUPAC, any case). A record is kept when ``chroms``
    is empty or holds its name before or after ``rename``; headers get the renamed first word
    and keep the description.

    Raises:
        GenomixError (naming ``label``): no records, text before the first header, a header
            without a name or with a name that is not UTF-8, an empty record, a character
            that is not a nucleotide code (protein, gaps, binary), duplicate output names, or a
            requested chromosome missing.
    """
    wanted = set(chroms)
    found: set[str] = set()
    written: dict[str, int] = {}
    names: list[str] = []
    keep, buf = False, bytearray()
    current = ""  # the kept record being written, and its bases written so far
    done = 0

    def flush(upto: int) -> None:
        """Check and write ``buf[:upto]`` (whole lines but the record's last), keep the rest."""
        nonlocal done
        check_alphabet(buf[:upto], where=f"{label}: record {current!r}", offset=done)
        dest.write(_wrap(buf[:upto], width))
        done += upto
        del buf[:upto]

    def close_record() -> None:
        if keep:
            flush(len(buf))
            if not done:
                raise GenomixError(
                    f"{label}: record {current!r} (line {written[current]}): empty sequence"
                )

    with open_bytes(src) as fin:
        for lineno, line in enumerate(fin, 1):
            if line.startswith(b">"):
                close_record()
                name = record_name(line[1:], where=f"{label}: line {lineno}")
                description = line[1:].split(None, 1)[1:]
                new = rename(name)
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
                current, done = new, 0
                dest.write(b">" + b" ".join([new.encode(), *description]).rstrip() + b"\n")
            elif not names:
                if line.strip():
                    raise GenomixError(
                        f"{label}: line {lineno}: FASTA must start with a '>' header"
                    )
            elif keep:
                buf += line.rstrip()
                if len(buf) >= _CHUNK:  # flush whole lines, keep the remainder for the next
                    flush(len(buf) - len(buf) % width)
        close_record()
    if not names:
        raise GenomixError(f"{label}: no FASTA records")
    missing = [c for c in chroms if c not in found]
    if missing:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise GenomixError(
            f"{label}: chromosome(s) {', '.join(missing)} not in the file (it has {shown})"
        )


@dataclass
class FastaStream:
    """One FASTA record read a chunk at a time (``stream_fasta``).

    Attributes:
        id: first word of the header line.
        line: 1-based line of the header.
        chunks: the sequence as upper-case ACGTN strings of up to a megabase each (IUPAC codes
            are N); raises GenomixError at an invalid character or, at its end, for an empty
            record. Drained by ``stream_fasta`` if the caller moves on before its end.
    """

    id: str
    line: int
    chunks: Iterator[str]


_CANONICAL = NUCLEOTIDE_TABLE.tobytes()  # for bytes.translate: 0 marks a refused byte


def stream_fasta(path: str | Path, *, chunk: int = _CHUNK) -> Iterator[FastaStream]:
    """Yield the records of a FASTA file (plain or gzip) without holding any record whole.

    The same rules as ``read_fasta`` (names, duplicates, empty records, alphabet), checked as
    the bytes go by, so memory does not grow with a record's length. Errors of a record (its
    name, its bases) come from its ``chunks``, so a caller may skip it and go on; those of the
    file (missing, empty, text before the first header, corrupt gzip) from the iteration.
    """
    path = Path(path)
    label = str(path)
    if not is_readable_input(path):
        raise GenomixError(f"{label}: no such FASTA file")
    first_line: dict[str, int] = {}
    with open_bytes(path) as handle:
        lines = enumerate(handle, 1)
        header: tuple[int, bytes] | None = None
        for lineno, line in lines:
            if lineno == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if line.startswith(b">"):
                header = (lineno, line)
                break
            if line.strip():
                shown = line.strip()[:40].decode("utf-8", "replace")
                raise GenomixError(
                    f"{label}: line {lineno}: expected a FASTA header starting with '>', "
                    f"got {shown!r}"
                )
        if header is None:
            raise GenomixError(
                f"{label}: no FASTA records (empty file, or no line starts with '>')"
            )
        while header is not None:
            lineno, line = header
            refused: GenomixError | None = None
            try:
                name = record_name(line[1:], where=f"{label}: line {lineno}")
            except GenomixError as error:  # raised from the chunks: a caller may skip it
                name, refused = line[1:].decode("utf-8", "replace").strip(), error
            if refused is None and name in first_line:
                refused = GenomixError(
                    f"{label}: duplicate record name {name!r} at lines {first_line[name]} "
                    f"and {lineno}"
                )
            first_line.setdefault(name, lineno)
            following: list[tuple[int, bytes]] = []
            where = f"{label}: record {name!r}"
            chunks = _record_chunks(lines, following, where, lineno, chunk, refused)
            yield FastaStream(name, lineno, chunks)
            for _ in chunks:  # the caller skipped the rest of the record
                pass
            header = following[0] if following else None


def _record_chunks(
    lines: Iterator[tuple[int, bytes]],
    following: list[tuple[int, bytes]],
    where: str,
    lineno: int,
    chunk: int,
    refused: GenomixError | None = None,
) -> Iterator[str]:
    """The bases of one record, `chunk` at a time; the next header line goes to `following`.

    `refused`: the error of a record refused by its header, raised at the first step.
    """
    buffer = bytearray()
    done = 0

    def normalized() -> str:
        nonlocal done
        mapped = bytes(buffer).translate(_CANONICAL)
        bad = mapped.find(0)
        if bad >= 0:
            check_alphabet(buffer, where=where, offset=done)  # raises, naming the position
        done += len(buffer)
        buffer.clear()
        return mapped.decode("ascii")

    try:
        if refused is not None:
            raise refused
        for number, line in lines:
            if line.startswith(b">"):
                following.append((number, line))
                break
            buffer += line.rstrip()
            if len(buffer) >= chunk:
                yield normalized()
        if buffer:
            yield normalized()
    except GenomixError:  # find the next record, so that a caller skipping this one goes on
        for number, line in [] if following else lines:
            if line.startswith(b">"):
                following.append((number, line))
                break
        raise
    if not done:
        raise GenomixError(f"{where} (line {lineno}): empty sequence")


def read_sequence_bytes(path: str | Path) -> Iterator[tuple[str, bytearray]]:
    """Yield (record name, sequence bytes) one record at a time, gzip or plain.

    Only the current record is held: about one byte per base of the largest chromosome, where
    joining a record's lines into a ``str`` also keeps every line object until the join.

    Raises:
        GenomixError: a missing file, a header without a name or a name that is not UTF-8, an
            empty record, or a byte that is not a nucleotide code (protein, binary).
    """
    path = Path(path)
    if not path.is_file():
        raise GenomixError(f"{path}: file not found")
    name: str | None = None
    seq = bytearray()
    with open_bytes(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith(b">"):
                if name is not None:
                    yield _checked_record(name, seq, path)
                name, seq = record_name(line[1:], where=f"{path}: line {lineno}"), bytearray()
            elif name is not None:
                seq += line.rstrip()
    if name is not None:
        yield _checked_record(name, seq, path)


def _checked_record(name: str, seq: bytearray, path: Path) -> tuple[str, bytearray]:
    """(name, seq) once `seq` is known to be non-empty nucleotide codes (not protein)."""
    if not seq:
        raise GenomixError(f"{path}: record {name!r}: empty sequence")
    check_alphabet(seq, where=f"{path}: record {name!r}")
    return name, seq


def read_fasta_records(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield (record name, sequence as written: case kept, IUPAC codes kept) from a FASTA, gzip
    or plain, one record at a time: ``read_sequence_bytes`` as text. ``read_fasta`` is the
    reader that normalises bases for models."""
    for name, seq in read_sequence_bytes(path):
        yield name, seq.decode("ascii")  # check_alphabet let only ASCII nucleotide codes through


def fasta_names(path: str | Path) -> list[str]:
    """Record names of a FASTA, from its ``.fai`` when there is one, else by scanning headers."""
    path = Path(path)
    fai = path.with_name(path.name + ".fai")
    if fai.is_file():
        return [line.split("\t", 1)[0] for line in fai.read_text().splitlines() if line]
    if not path.is_file():
        raise GenomixError(f"{path}: file not found")
    with open_bytes(path) as fh:
        return [
            record_name(line[1:], where=f"{path}: line {lineno}")
            for lineno, line in enumerate(fh, 1)
            if line.startswith(b">")
        ]
