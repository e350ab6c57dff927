"""Fetch a reference genome (resumable, checksummed, atomic) and read it through a pyfaidx index.

``fetch_genome``: http(s)/ftp URL, ``file:`` URL or path (plain, gzip or bgzip) -> verified
FASTA with even line widths plus ``.fai``. ``open_genome`` / ``fetch_sequence``: random access
that refuses what pyfaidx gets wrong silently (a stale ``.fai`` gives empty sequence) or
cryptically (plain gzip, uneven line widths).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

import pyfaidx
from Bio import bgzf
from tqdm import tqdm

from genomix.errors import GenomixError
from genomix.fasta import GZIP_MAGIC, rewrite_fasta

log = logging.getLogger(__name__)

LINE_WIDTH = 60  # columns of the rewritten FASTA; every line but a record's last is this long
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_REMOTE_SCHEMES = ("http", "https", "ftp")
_PRIMARY = re.compile(r"\d+|X|Y|M")  # names that both naming styles share up to the "chr" prefix
_HEX = {"md5": re.compile(r"[0-9a-f]{32}"), "sha256": re.compile(r"[0-9a-f]{64}")}


class _TransientError(Exception):
    """A download failure worth retrying: reset, timeout, truncated body, HTTP 5xx or 429."""


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


def bsd_sum(path: str | Path) -> tuple[int, int]:
    """BSD ``sum`` of a file (what ``sum -r`` prints; Ensembl's ``CHECKSUMS`` format).

    Returns:
        (checksum, blocks): the 16-bit rotating checksum and the size in 1024-byte blocks.
    """
    checksum, size = 0, 0
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            for byte in chunk:  # inherently sequential: each step rotates the previous sum
                checksum = (((checksum >> 1) | ((checksum & 1) << 15)) + byte) & 0xFFFF
    return checksum, -(-size // 1024)


def _file_checksums(path: Path, kinds: set[str]) -> dict[str, str]:
    """Checksums of ``path`` for ``kinds`` (md5, sha256, bsd), as strings to compare."""
    hashes = {kind: hashlib.new(kind) for kind in kinds & {"md5", "sha256"}}
    if hashes:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                for digest in hashes.values():
                    digest.update(chunk)
    found = {kind: digest.hexdigest() for kind, digest in hashes.items()}
    if "bsd" in kinds:
        found["bsd"] = "{} {}".format(*bsd_sum(path))
    return found


def _parse_checksum_file(text: str, filename: str, url: str) -> tuple[str, str]:
    """Find ``filename`` in a checksum listing: ``md5sum``/``sha256sum`` lines or BSD ``sum`` lines.

    Returns:
        (kind, expected): kind is ``md5``, ``sha256`` or ``bsd`` (expected ``"<sum> <blocks>"``).
    """
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or PurePosixPath(fields[-1].lstrip("*")).name != filename:
            continue
        value = fields[0].lower()
        if len(fields) == 2:
            for kind, pattern in _HEX.items():
                if pattern.fullmatch(value):
                    return kind, value
        if len(fields) == 3 and fields[0].isdigit() and fields[1].isdigit():
            return "bsd", f"{int(fields[0])} {int(fields[1])}"
        raise GenomixError(f"{url}: line {lineno}: unrecognised checksum line {line.strip()!r}")
    raise GenomixError(f"{url}: no checksum listed for {filename!r}")


def _local_path(source: str) -> Path | None:
    """The file behind a ``file:`` URL or plain path; None for a remote URL.

    ``file:///abs/path`` is absolute; ``file:rel/path`` is relative to the current directory.
    """
    parts = urllib.parse.urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme in _REMOTE_SCHEMES:
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise GenomixError(
                f"{source}: file URL names host {parts.netloc!r}; "
                "use file:///absolute/path or file:relative/path"
            )
        return Path(urllib.request.url2pathname(parts.path))
    if len(scheme) > 1 and "://" in source:
        raise GenomixError(f"{source}: unsupported URL scheme {scheme!r} (http, https, ftp, file)")
    return Path(source)


def _source_name(source: str) -> str:
    """File name of a URL or path, as listed in a provider's checksum file."""
    local = _local_path(source)
    if local is not None:
        return local.name
    return PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(source).path)).name


def _is_transient(exc: BaseException) -> bool:
    """True for network errors worth retrying; a refused connection means unreachable."""
    if isinstance(exc, ConnectionRefusedError):
        return False
    return isinstance(exc, (ConnectionError, TimeoutError, http.client.HTTPException))


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``Content-Range: bytes a-b/n`` or ``bytes */n``."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (header or "").strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _open_url(url: str, part: Path, have: int) -> IO[bytes] | None:
    """Send the request, asking for bytes ``have``- of ``part`` when resuming; None if complete."""
    headers = {"User-Agent": "genomix"}
    if have and url.lower().startswith("http"):
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and _content_range(exc.headers.get("Content-Range"))[1] == have:
            return None  # the .part file already holds the whole file
        if exc.code == 416:  # the .part file is longer than the file: start again
            part.unlink(missing_ok=True)
        if exc.code == 416 or exc.code >= 500 or exc.code == 429:
            raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise GenomixError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        # urlopen wraps socket errors from connecting in URLError, but not those from the response
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, BaseException) and _is_transient(reason):
            raise _TransientError(f"{type(reason).__name__}: {reason}") from exc
        raise GenomixError(f"{url}: unreachable ({reason})") from exc


def _download_once(url: str, part: Path, *, progress: bool) -> None:
    """One attempt: append to ``part`` from where it stops (HTTP Range), or restart it."""
    have = part.stat().st_size if part.exists() else 0
    resp = _open_url(url, part, have)
    if resp is None:
        return
    with resp:
        status = getattr(resp, "status", None)
        if have and not (
            status == 206 and _content_range(resp.headers.get("Content-Range"))[0] == have
        ):
            log.info("%s: server did not resume at byte %d; restarting the download", url, have)
            have = 0
        length = resp.headers.get("Content-Length")
        expected = have + int(length) if length and length.isdigit() else None
        got = have
        bar = tqdm(total=expected, initial=have, unit="B", unit_scale=True, disable=not progress)
        try:
            with part.open("ab" if have else "wb") as fh, bar:
                while chunk := resp.read(_CHUNK):
                    fh.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            raise _TransientError(f"{type(exc).__name__} after {got} bytes") from exc
    # http.client returns a short body without complaint when the server hangs up early
    if expected is not None and got < expected:
        raise _TransientError(f"connection closed after {got} of {expected} bytes")


def _download(url: str, part: Path, *, retries: int, backoff: float, progress: bool) -> None:
    """Download ``url`` into ``part``, resuming and retrying transient failures.

    Waits ``backoff * 2**attempt`` seconds between attempts. A failed download leaves
    ``part`` in place so that the next call resumes it.
    """
    for attempt in range(retries + 1):
        try:
            _download_once(url, part, progress=progress)
            return
        except _TransientError as exc:
            if attempt == retries:
                raise GenomixError(
                    f"{url}: download failed after {retries + 1} attempts ({exc}); "
                    f"run again to resume from {part}"
                ) from exc
            delay = backoff * 2**attempt
            log.warning("%s: %s; retry %d of %d in %.1f s", url, exc, attempt + 1, retries, delay)
            time.sleep(delay)


def _provider_checksum(
    checksum_url: str, filename: str, scratch: Path, *, retries: int, backoff: float
) -> tuple[str, str]:
    """(kind, value) for ``filename`` from the listing at ``checksum_url`` (URL or path)."""
    local = _local_path(checksum_url)
    if local is None:
        _download(checksum_url, scratch, retries=retries, backoff=backoff, progress=False)
        local = scratch
    elif not local.is_file():
        raise GenomixError(f"{checksum_url}: no such checksum file")
    try:
        text = local.read_text(encoding="utf-8", errors="replace")
    finally:
        scratch.unlink(missing_ok=True)
    return _parse_checksum_file(text, filename, checksum_url)


def _verify(path: Path, expected: list[tuple[str, str]], label: str) -> None:
    """Raise GenomixError naming ``label``, expected and actual value on the first mismatch."""
    if not expected:
        log.info("%s: no checksum given; not verified", label)
        return
    actual = _file_checksums(path, {kind for kind, _ in expected})
    for kind, value in expected:
        if actual[kind] != value:
            raise GenomixError(f"{label}: {kind} mismatch: expected {value}, got {actual[kind]}")
        log.info("%s: %s verified", label, kind)


def _write_indexed(src: Path, out: Path, *, label: str, chroms: Sequence[str], rename: str) -> None:
    """Rewrite ``src`` to ``out`` atomically (BGZF when ``out`` ends in .gz/.bgz), then index it."""
    tmp = out.with_name(f"{out.stem}.tmp{out.suffix}")
    made = [tmp, Path(f"{tmp}.fai"), Path(f"{tmp}.gzi")]
    compressed = out.suffix.lower() in (".gz", ".bgz")
    try:
        with bgzf.BgzfWriter(str(tmp), "wb") if compressed else tmp.open("wb") as dest:
            rewrite_fasta(
                src, dest, label=label, chroms=chroms, rename=_RENAMERS[rename], width=LINE_WIDTH
            )
        pyfaidx.Faidx(str(tmp)).close()
        # FASTA first: a crash in between leaves an .fai older than the FASTA, which is rebuilt
        for path, suffix in zip(made, ("", ".fai", ".gzi"), strict=True):
            if path.exists():
                os.replace(path, f"{out}{suffix}")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GenomixError(f"{label}: corrupt or truncated gzip data ({exc})") from exc
    finally:
        for path in made:
            path.unlink(missing_ok=True)


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
    progress = sys.stderr.isatty() if progress is None else progress
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f"{out.name}.part")
    expected = [(k, v.strip().lower()) for k, v in (("md5", md5), ("sha256", sha256)) if v]
    for kind, value in expected:
        if not _HEX[kind].fullmatch(value):
            raise GenomixError(f"{kind}={value!r}: not a hexadecimal {kind} digest")
    if checksum_url:
        scratch = out.with_name(f"{out.name}.checksums.part")
        expected.append(
            _provider_checksum(
                checksum_url, _source_name(source), scratch, retries=retries, backoff=backoff
            )
        )
    local = _local_path(source)
    if local is not None and not local.is_file():
        raise GenomixError(f"{source}: no such file ({local.resolve()})")
    if local is None:
        _download(source, part, retries=retries, backoff=backoff, progress=progress)
    try:
        _verify(local or part, expected, source)
        _write_indexed(local or part, out, label=source, chroms=chroms, rename=rename)
    finally:
        part.unlink(missing_ok=True)
    log.info("%s: wrote %s", source, out)
    return out


def _is_bgzf(head: bytes) -> bool:
    """True when a gzip header carries BGZF's ``BC`` extra subfield."""
    return len(head) >= 14 and head[3] & 4 != 0 and head[12:14] == b"BC"


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


def open_genome(path: str | Path) -> pyfaidx.Fasta:
    """Open an indexed FASTA (plain or BGZF), building or rebuilding its ``.fai`` as needed.

    A stale ``.fai`` (older than the FASTA, or offsets that disagree with the file size) is
    rebuilt, since pyfaidx would otherwise return empty or wrong sequence.

    Raises:
        GenomixError: missing file, plain gzip (not BGZF), uneven line widths (naming the
            record and line), duplicate names, or no records.
    """
    path = Path(path)
    if not path.is_file():
        raise GenomixError(f"{path}: no such FASTA file")
    with path.open("rb") as fh:
        head = fh.read(18)
    compressed = head.startswith(GZIP_MAGIC)
    if compressed and not _is_bgzf(head):
        raise GenomixError(
            f"{path}: plain gzip cannot be indexed; `genomix fetch` rewrites it (or use bgzip)"
        )
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
