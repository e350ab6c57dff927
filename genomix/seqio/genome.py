"""Fetch a reference genome (resumable, checksummed, atomic) and read it through a pyfaidx index.

``fetch_genome``: http(s)/ftp URL, ``file:`` URL or path (plain, gzip or bgzip) -> verified
FASTA with even line widths plus ``.fai``; getting and checking the bytes is
``genomix.seqio.download``. ``open_genome`` (the one genome opener) / ``fetch_sequence``:
random access that refuses what pyfaidx gets wrong silently (a stale ``.fai`` gives empty
sequence) or cryptically (plain gzip, uneven line widths).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, overload

import pyfaidx
from Bio import bgzf

from genomix.errors import GenomixError
from genomix.seqio.atomic import current_umask, is_stream, output_lock, temporary_file
from genomix.seqio.compression import sniff_file
from genomix.seqio.download import discard_download, fetch_verified
from genomix.seqio.fasta import read_fasta_records, rewrite_fasta

log = logging.getLogger(__name__)

LINE_WIDTH = 60  # columns of the rewritten FASTA; every line but a record's last is this long
_PRIMARY = re.compile(r"\d+|X|Y|M")  # names that both naming styles share up to the "chr" prefix


def _ucsc_name(name: str) -> str:
    """``1`` -> ``chr1``, ``MT`` -> ``chrM``; other names (scaffolds, already ``chr``) unchanged."""
    if name == "MT":
        return "chrM"
    return f"chr{name}" if _PRIMARY.fullmatch(name) else name


def _ensembl_name(name: str) -> str:
    """``chr1`` -> ``1``, ``chrM`` -> ``MT``; other names unchanged."""
    if name == "chrM":
        return "MT"
    return name[3:] if name.startswith("chr") and _PRIMARY.fullmatch(name[3:]) else name


# "keep" is the identity: str() of a str returns the same object
_RENAMERS: dict[str, Callable[[str], str]] = {
    "keep": str,
    "ucsc": _ucsc_name,
    "ensembl": _ensembl_name,
}


def _write_indexed(src: Path, out: Path, *, label: str, chroms: Sequence[str], rename: str) -> None:
    """Rewrite ``src`` to ``out`` atomically (BGZF when ``out`` ends in .gz/.bgz), then index it."""
    compressed = out.suffix.lower() in (".gz", ".bgz")
    try:
        # the temporary keeps out's suffix: pyfaidx tells BGZF by the name
        with temporary_file(out, suffix=out.suffix) as tmp:
            with bgzf.BgzfWriter(str(tmp), "wb") if compressed else tmp.open("wb") as dest:
                rewrite_fasta(
                    src,
                    dest,
                    label=label,
                    chroms=chroms,
                    rename=_RENAMERS[rename],
                    width=LINE_WIDTH,
                )
            pyfaidx.Faidx(str(tmp)).close()
            os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private (0600)
            # FASTA first: a crash in between leaves an .fai older than the FASTA, which is rebuilt
            for suffix in ("", ".fai", ".gzi"):
                if Path(f"{tmp}{suffix}").exists():
                    os.replace(f"{tmp}{suffix}", f"{out}{suffix}")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GenomixError(f"{label}: corrupt or truncated gzip data ({exc})") from exc


def fetch_genome(
    source: str,
    out: str | Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    checksum_url: str | None = None,
    chroms: Sequence[str] = (),
    rename: str = "keep",
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool | None = None,
) -> Path:
    """Download/copy ``source``, verify, decompress, select/rename chromosomes, write ``out``.

    Args:
        source: http(s)/ftp URL, ``file:///abs/path``, ``file:rel/path`` (relative to the
            current directory) or a plain path; plain, gzip or bgzip FASTA.
        out: output FASTA, lines of ``LINE_WIDTH`` columns; BGZF when it ends in .gz or .bgz.
        md5, sha256: expected digest of ``source`` as downloaded (compressed bytes).
        checksum_url: provider listing of the same (UCSC ``md5sum.txt``, Ensembl ``CHECKSUMS``
            in BSD ``sum`` format, or ``sha256sum`` output), looked up by the source file name.
        chroms: keep only these records (names before or after renaming); empty keeps all.
        rename: ``keep``, ``ucsc`` (``1`` -> ``chr1``, ``MT`` -> ``chrM``) or ``ensembl``.
        retries, backoff: transient failures are retried ``retries`` times after
            ``backoff * 2**attempt`` seconds.
        progress: byte progress bar; default when stderr is a terminal.

    Returns:
        ``out``. Downloads go to ``out.part`` and resume from it with HTTP Range; it is removed
        on success and on a checksum mismatch, and kept only when the download itself failed.
    """
    out = Path(out)
    if rename not in _RENAMERS:
        raise GenomixError(f"rename={rename!r}: expected one of {', '.join(_RENAMERS)}")
    if retries < 0 or backoff < 0:
        raise GenomixError(f"retries={retries}, backoff={backoff}: must not be negative")
    if is_stream(out) or out.is_dir():
        raise GenomixError(
            f"{out}: fetch writes a FASTA file with its .fai index, not to a device, pipe or "
            "folder (--as-is copies the file as it is)"
        )
    progress = sys.stderr.isatty() if progress is None else progress
    with output_lock(out):
        verified, part = fetch_verified(
            source,
            out,
            md5=md5,
            sha256=sha256,
            checksum_url=checksum_url,
            retries=retries,
            backoff=backoff,
            progress=progress,
        )
        try:
            _write_indexed(verified, out, label=source, chroms=chroms, rename=rename)
        finally:
            discard_download(part)
    log.info("%s: wrote %s", source, out)
    return out


def _fai_is_stale(path: Path, fai: Path, *, compressed: bool) -> bool:
    """True when ``fai`` is older than ``path`` or (plain FASTA) its offsets miss the file size."""
    if path.stat().st_mtime > fai.stat().st_mtime:
        return True
    if compressed:
        return False  # .fai offsets count uncompressed bytes; only the mtime can be checked
    try:
        rows = [line.split("\t") for line in fai.read_text().splitlines() if line.strip()]
        ends = []
        for length, offset, bases, width in (map(int, row[1:5]) for row in rows):
            full, rest = divmod(length, bases) if bases else (0, 0)
            ends.append(offset + full * width + (rest + width - bases if rest else 0))
    except (ValueError, IndexError):
        return True
    size, widest = path.stat().st_size, max((int(row[4]) for row in rows), default=0)
    return not ends or max(ends) > size or size - max(ends) > widest


@overload
def open_genome(path: str | Path, *, load_plain_gzip: Literal[False] = False) -> pyfaidx.Fasta: ...


@overload
def open_genome(path: str | Path, *, load_plain_gzip: bool) -> pyfaidx.Fasta | dict[str, str]: ...


def open_genome(
    path: str | Path, *, load_plain_gzip: bool = False
) -> pyfaidx.Fasta | dict[str, str]:
    """Open an indexed FASTA (plain or BGZF), building or rebuilding its ``.fai`` as needed.

    The one policy for every genome input: plain FASTA and BGZF are indexed with pyfaidx; plain
    gzip cannot be indexed, so it is refused, or read whole into memory with
    ``load_plain_gzip`` (record name -> sequence as written; callers upper-case what they cut).
    A stale ``.fai`` (older than the FASTA, or offsets that disagree with the file size) is
    rebuilt, since pyfaidx would otherwise return empty or wrong sequence.

    Raises:
        GenomixError: missing file, plain gzip (not BGZF, unless ``load_plain_gzip``), BGZF not
            named .gz/.bgz, uneven line widths (naming the record and line), duplicate names,
            or no records.
    """
    path = Path(path)
    if not path.is_file():
        raise GenomixError(f"{path}: no such FASTA file")
    compression = sniff_file(path)
    if compression == "gzip":
        if load_plain_gzip:
            log.info("%s: plain gzip, reading it into memory (bgzip it for indexed access)", path)
            return dict(read_fasta_records(path))
        raise GenomixError(
            f"{path}: plain gzip cannot be indexed; `genomix fetch` rewrites it (or use bgzip)"
        )
    compressed = compression == "bgzf"
    if compressed and path.suffix.lower() not in (".gz", ".bgz"):
        raise GenomixError(f"{path}: BGZF-compressed but not named .gz or .bgz; rename it")
    fai = Path(f"{path}.fai")
    if fai.exists() and _fai_is_stale(path, fai, compressed=compressed):
        log.warning("%s: stale index %s; rebuilding it", path, fai)
        fai.unlink()
        Path(f"{path}.gzi").unlink(missing_ok=True)
    try:
        return pyfaidx.Fasta(str(path))
    except pyfaidx.FastaIndexingError as exc:
        match = re.search(r">(\S+) at line (\d+)", str(exc))
        if match:
            raise GenomixError(
                f"{path}: record {match[1]!r} line {match[2]}: uneven line width; pyfaidx needs "
                "equal-length lines, and `genomix fetch` rewrites the file with even lines"
            ) from exc
        raise GenomixError(f"{path}: cannot index: {exc}") from exc
    except ValueError as exc:  # pyfaidx: Duplicate key "name"
        raise GenomixError(f"{path}: cannot index: {exc}") from exc


def fetch_sequence(genome: pyfaidx.Fasta, chrom: str, start: int, end: int) -> str:
    """Upper-case sequence of ``chrom`` over ``[start, end)``, 0-based half-open.

    Raises:
        GenomixError: missing chromosome or out-of-range interval, naming chrom and genome file.
    """
    if chrom not in genome:
        raise GenomixError(f"{genome.filename}: no chromosome {chrom!r}")
    length = len(genome[chrom])
    if not 0 <= start <= end <= length:
        raise GenomixError(
            f"{genome.filename}: {chrom}:{start}-{end} is outside {chrom} "
            f"(0-{length}, 0-based half-open)"
        )
    if start == end:
        return ""
    seq = genome[chrom][start:end].seq
    if len(seq) != end - start:
        raise GenomixError(
            f"{genome.filename}: {chrom}:{start}-{end} read {len(seq)} bases; "
            "the .fai is stale, delete it"
        )
    return seq.upper()
