"""Get the bytes of a genome from its source, resumably, and check them against checksums.

Sources: http(s) and ftp URLs (urllib; HTTP resumes with Range from ``<out>.part``),
``file:///abs/path``, ``file:rel/path`` and plain paths. Checksums: md5 and sha256 digests, and
provider listings (UCSC ``md5sum.txt``, Ensembl ``CHECKSUMS`` in BSD ``sum`` format), computed
and parsed by ``genomix.seqio.checksums``.
"""

from __future__ import annotations

import ftplib
import http.client
import json
import logging
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import IO, Any

from tqdm import tqdm

from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path, is_stream, output_lock
from genomix.seqio.checksums import DIGEST_PATTERNS, parse_checksum_file, verify_checksums

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_REMOTE_SCHEMES = ("http", "https", "ftp")


class _TransientError(Exception):
    """A download failure worth retrying: reset, timeout, truncated body, HTTP 5xx or 429."""


def local_path(source: str) -> Path | None:
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
    local = local_path(source)
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


def _ftp_reply(exc: BaseException | None) -> ftplib.Error | None:
    """The FTP server's error reply behind urllib's URLError (found through reasons and causes)."""
    while exc is not None and not isinstance(exc, ftplib.Error):
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else exc.__cause__
    return exc


def resume_record(part: Path) -> Path:
    """The sidecar that proves what ``part`` holds: JSON with url, validator and size."""
    return part.with_name(f"{part.name}.source")


def _validator(headers: Message) -> str | None:
    """A validator If-Range accepts: a strong ETag, else Last-Modified; None if neither."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _proven_resume(url: str, part: Path) -> tuple[int, dict[str, Any] | None]:
    """(bytes to resume from, the sidecar) for ``part``; (0, None) after removing a ``part``
    that nothing shows to be the start of ``url`` (no sidecar, another URL, no validator)."""
    have = part.stat().st_size if part.exists() else 0
    record = resume_record(part)
    try:
        saved = json.loads(record.read_text()) if have else None
    except (OSError, ValueError):
        saved = None
    if (
        isinstance(saved, dict)
        and saved.get("url") == url
        and saved.get("validator")
        and isinstance(saved.get("size"), int)
        and have <= saved["size"]
    ):
        return have, saved
    if have:
        log.info("%s: %s is not shown to be part of this file; starting over", url, part)
    part.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    return 0, None


def _open_url(url: str, part: Path, have: int, validator: str | None) -> IO[bytes] | None:
    """Send the request, asking for bytes ``have``- of ``part`` when resuming (only while the
    file still has ``validator``, If-Range); None if ``part`` is already complete."""
    headers = {"User-Agent": "genomix"}
    if have and url.lower().startswith("http"):
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = str(validator)
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
        reply = _ftp_reply(exc)
        if isinstance(reply, ftplib.error_temp):  # 4xx: try again later
            raise _TransientError(f"FTP {reply}") from exc
        if reply is not None:  # 5xx (550: no such file) or a malformed reply
            raise GenomixError(f"{url}: FTP {reply}") from exc
        # urlopen wraps socket errors from connecting in URLError (twice for ftp: its handler
        # wraps its own URLError again), but not those from the response
        reason: object = exc
        while isinstance(reason, urllib.error.URLError):
            reason = reason.reason
        if isinstance(reason, BaseException) and _is_transient(reason):
            raise _TransientError(f"{type(reason).__name__}: {reason}") from exc
        raise GenomixError(f"{url}: unreachable ({reason})") from exc


def _download_once(url: str, part: Path, *, progress: bool) -> None:
    """One attempt: append to ``part`` from where it stops (HTTP Range + If-Range), or restart.

    A fresh download records the URL, the server's validator (strong ETag or Last-Modified)
    and the size beside ``part``; only a ``part`` with a matching record is resumed.
    """
    have, saved = _proven_resume(url, part)
    resp = _open_url(url, part, have, saved["validator"] if saved else None)
    if resp is None:
        return
    with resp:
        status = getattr(resp, "status", None)
        start, total = _content_range(resp.headers.get("Content-Range"))
        if have and not (status == 206 and start == have and saved and total == saved["size"]):
            log.info("%s: server did not resume at byte %d; restarting the download", url, have)
            have = 0
        length = resp.headers.get("Content-Length")
        expected = have + int(length) if length and length.isdigit() else None
        if not have:
            _record_source(url, part, resp.headers, expected)
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


def _record_source(url: str, part: Path, headers: Message, size: int | None) -> None:
    """Write (or, without a validator or size, remove) the sidecar of a fresh ``part``."""
    record = resume_record(part)
    validator = _validator(headers)
    if validator is None or size is None or not url.lower().startswith("http"):
        record.unlink(missing_ok=True)  # nothing could prove a resume right: never resume
        return
    record.write_text(json.dumps({"url": url, "validator": validator, "size": size}) + "\n")


def download(url: str, part: Path, *, retries: int, backoff: float, progress: bool) -> None:
    """Download ``url`` into ``part``, resuming and retrying transient failures.

    Waits ``backoff * 2**attempt`` seconds between attempts. A failed download leaves
    ``part`` and its record in place so that the next call resumes it.
    """
    for attempt in range(retries + 1):
        try:
            _download_once(url, part, progress=progress)
            return
        except _TransientError as exc:
            if attempt == retries:
                resumable = part.exists() and resume_record(part).exists()
                then = f"run again to resume from {part}" if resumable else "run again to retry"
                raise GenomixError(
                    f"{url}: download failed after {retries + 1} attempts ({exc}); {then}"
                ) from exc
            delay = backoff * 2**attempt
            log.warning("%s: %s; retry %d of %d in %.1f s", url, exc, attempt + 1, retries, delay)
            time.sleep(delay)


def _provider_checksum(
    checksum_url: str, filename: str, scratch: Path, *, retries: int, backoff: float
) -> tuple[str, str]:
    """(kind, value) for ``filename`` from the listing at ``checksum_url`` (URL or path)."""
    local = local_path(checksum_url)
    if local is None:
        download(checksum_url, scratch, retries=retries, backoff=backoff, progress=False)
        local = scratch
    elif not local.is_file():
        raise GenomixError(f"{checksum_url}: no such checksum file")
    try:
        text = local.read_text(encoding="utf-8", errors="replace")
    finally:
        discard_download(scratch)
    return parse_checksum_file(text, filename, checksum_url)


def expected_checksums(
    source: str,
    *,
    md5: str | None,
    sha256: str | None,
    checksum_url: str | None,
    scratch: Path,
    retries: int,
    backoff: float,
) -> list[tuple[str, str]]:
    """(kind, value) pairs that ``source`` must match: the digests given, then the listed one.

    Args:
        md5, sha256: expected hexadecimal digests (any case, surrounding space ignored).
        checksum_url: provider listing (URL or path), looked up by the file name of ``source``;
            a remote listing is downloaded to ``scratch``, which is removed afterwards.
    """
    expected = [(k, v.strip().lower()) for k, v in (("md5", md5), ("sha256", sha256)) if v]
    for kind, value in expected:
        if not DIGEST_PATTERNS[kind].fullmatch(value):
            raise GenomixError(f"{kind}={value!r}: not a hexadecimal {kind} digest")
    if checksum_url:
        expected.append(
            _provider_checksum(
                checksum_url, _source_name(source), scratch, retries=retries, backoff=backoff
            )
        )
    return expected


def fetch_verified(
    source: str,
    out: Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    checksum_url: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool = False,
) -> tuple[Path, Path]:
    """Bring ``source`` to a checksum-verified local file on its way to ``out``.

    Returns (the verified file, ``out.part``). A local source is verified where it is (the first
    path is the source itself). A remote one is downloaded to ``out.part``, resuming what an
    earlier run left there, and verified; on a mismatch ``out.part`` is removed.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f"{out.name}.part")
    expected = expected_checksums(
        source,
        md5=md5,
        sha256=sha256,
        checksum_url=checksum_url,
        scratch=out.with_name(f"{out.name}.checksums.part"),
        retries=retries,
        backoff=backoff,
    )
    local = local_path(source)
    if local is not None:
        if not local.is_file():
            raise GenomixError(f"{source}: no such file ({local.resolve()})")
        verify_checksums(local, expected, source)
        return local, part
    download(source, part, retries=retries, backoff=backoff, progress=progress)
    try:
        verify_checksums(part, expected, source)
    except GenomixError:
        discard_download(part)
        raise
    return part, part


def discard_download(part: Path) -> None:
    """Remove a finished (or refused) download and its resume record."""
    part.unlink(missing_ok=True)
    resume_record(part).unlink(missing_ok=True)


def fetch_file(
    source: str,
    out: Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    checksum_url: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool = False,
) -> Path:
    """Download or copy ``source`` to ``out`` byte for byte (peak BEDs, TSS lists), verified.

    The same resume, retry and checksum rules as ``genomix.seqio.genome.fetch_genome``
    (``fetch_verified``); the verified bytes are renamed (or, from a local source, copied) to
    ``out``.
    """
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
            if verified == part and not is_stream(out):
                part.replace(out)
            else:  # a local source is copied; a device or pipe is written through
                with (
                    atomic_path(out) as temporary,
                    verified.open("rb") as src,
                    temporary.open("wb") as dest,
                ):
                    shutil.copyfileobj(src, dest, _CHUNK)
        finally:
            if verified == part:
                discard_download(part)
    log.info("%s: wrote %s", source, out)
    return out
