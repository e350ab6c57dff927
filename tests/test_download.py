"""Tests for genomix.seqio.download: BSD ``sum``, source paths, checksum listings, and FTP.

HTTP download, resume, retries and verification run end to end in test_genome.py. FTP runs
here against a real FTP server (pyftpdlib) on 127.0.0.1, started by the test in a thread and
serving a copy of the human slice from data/demo/.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import socket
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from genomix.errors import GenomixError
from genomix.seqio.checksums import bsd_sum, parse_checksum_file
from genomix.seqio.download import download, local_path
from genomix.seqio.fasta import read_fasta
from genomix.seqio.genome import fetch_genome, fetch_sequence, open_genome

with warnings.catch_warnings():  # pyftpdlib imports asyncore and asynchat (deprecated in 3.11)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

HUMAN = Path(__file__).resolve().parents[1] / "data" / "demo" / "human_grch37_chr20_1mb.fa.gz"
HUMAN_BSD = (31764, 285)  # `sum -r human_grch37_chr20_1mb.fa.gz` (GNU coreutils 9.1)


def _bsd_sum_by_definition(data: bytes) -> int:
    checksum = 0
    for byte in data:
        checksum = (((checksum >> 1) | ((checksum & 1) << 15)) + byte) & 0xFFFF
    return checksum


def test_bsd_sum_known_value(tmp_path: Path) -> None:
    assert bsd_sum(HUMAN) == HUMAN_BSD
    # by hand: a=97 -> 97; rotr(97) = 0x8030, + b=98 -> 32914; rotr(32914) = 16457, + c=99
    for data, expected in ((b"abc", (16556, 1)), (b"\x01\x02", (32770, 1)), (b"", (0, 0))):
        path = tmp_path / "blob"
        path.write_bytes(data)
        assert bsd_sum(path) == expected, data


@pytest.mark.skipif(shutil.which("sum") is None, reason="no `sum` command")
@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 70_000])
def test_bsd_sum_matches_sum_command(tmp_path: Path, size: int) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(size)))
    fields = subprocess.run(["sum", "-r", str(path)], capture_output=True, text=True, check=True)
    checksum, blocks = map(int, fields.stdout.split()[:2])
    assert bsd_sum(path) == (checksum, blocks)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff" * 5000,  # overflows on almost every step
        b"\x00" * 10 + b"\xff" * 300 + b"\x01" * 300,
        bytes(random.Random(0).randrange(256) for _ in range(50_000)),
    ],
    ids=["all-ff", "runs", "random"],
)
def test_bsd_sum_matches_definition_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    # small reads so that the unmasked running sum crosses many chunk boundaries
    monkeypatch.setattr("genomix.seqio.checksums._CHUNK", 7)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert bsd_sum(path) == (_bsd_sum_by_definition(data), -(-len(data) // 1024))


def test_local_path(tmp_path: Path) -> None:
    assert local_path("file:data/x.fa.gz") == Path("data/x.fa.gz")
    assert local_path(f"file://{tmp_path}/x.fa") == tmp_path / "x.fa"
    assert local_path("file://localhost/abs/x.fa") == Path("/abs/x.fa")
    assert local_path("data/x.fa") == Path("data/x.fa")
    for url in ("http://h/x.fa", "HTTPS://h/x.fa", "ftp://h/x.fa"):
        assert local_path(url) is None
    with pytest.raises(GenomixError, match="unsupported URL scheme 's3'"):
        local_path("s3://bucket/x.fa")


def testparse_checksum_file() -> None:
    md5, sha = "a" * 32, "B" * 64
    listing = f"{md5} *dir/z.fa.gz\n{sha}  y.fa.gz\n12 3 x.fa.gz\n\nbad line w.fa.gz\n"
    assert parse_checksum_file(listing, "z.fa.gz", "u") == ("md5", md5)
    assert parse_checksum_file(listing, "y.fa.gz", "u") == ("sha256", sha.lower())
    assert parse_checksum_file(listing, "x.fa.gz", "u") == ("bsd", "12 3")
    with pytest.raises(GenomixError, match="u: line 5: unrecognised checksum line"):
        parse_checksum_file(listing, "w.fa.gz", "u")
    with pytest.raises(GenomixError, match="u: no checksum listed for 'v.fa.gz'"):
        parse_checksum_file(listing, "v.fa.gz", "u")


class _FtpServer:
    """Anonymous read-only FTP server on 127.0.0.1 (a free port) serving ``root``, in a thread."""

    def __init__(self, root: Path) -> None:
        authorizer = DummyAuthorizer()
        authorizer.add_anonymous(str(root))  # list and read only
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self.url = f"ftp://127.0.0.1:{self.server.address[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.01, blocking=False, handle_exit=False)
        self.server.close_all()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[_FtpServer]:
    root = tmp_path / "ftp"
    root.mkdir()
    shutil.copyfile(HUMAN, root / "z.fa.gz")
    server = _FtpServer(root)
    yield server
    server.close()


def test_ftp_download_is_byte_exact(ftp: _FtpServer, tmp_path: Path) -> None:
    part = tmp_path / "z.fa.gz.part"
    download(f"{ftp.url}/z.fa.gz", part, retries=0, backoff=0, progress=False)
    assert part.read_bytes() == HUMAN.read_bytes()
    # A .part left by an earlier run: FTP here does not resume, so the download restarts
    part.write_bytes(b"stale bytes")
    download(f"{ftp.url}/z.fa.gz", part, retries=0, backoff=0, progress=False)
    assert part.read_bytes() == HUMAN.read_bytes()


def test_fetch_genome_over_ftp_with_ensembl_checksums(ftp: _FtpServer, tmp_path: Path) -> None:
    """The Ensembl way: FASTA and a BSD-sum CHECKSUMS listing, both over FTP."""
    (tmp_path / "ftp" / "CHECKSUMS").write_text(f"{HUMAN_BSD[0]} {HUMAN_BSD[1]} z.fa.gz\n")
    out = fetch_genome(
        f"{ftp.url}/z.fa.gz", tmp_path / "out" / "hs.fa", checksum_url=f"{ftp.url}/CHECKSUMS"
    )
    genome = open_genome(out)
    assert fetch_sequence(genome, "z", 0, 1_000_000) == next(read_fasta(HUMAN)).sequence
    assert sorted(p.name for p in out.parent.iterdir()) == ["hs.fa", "hs.fa.fai"]


def test_ftp_checksum_mismatch_removes_download(ftp: _FtpServer, tmp_path: Path) -> None:
    url = f"{ftp.url}/z.fa.gz"
    actual = hashlib.md5(HUMAN.read_bytes()).hexdigest()
    with pytest.raises(GenomixError) as info:
        fetch_genome(url, tmp_path / "out" / "hs.fa", md5="0" * 32)
    assert str(info.value) == f"{url}: md5 mismatch: expected {'0' * 32}, got {actual}"
    assert list((tmp_path / "out").iterdir()) == []


def test_ftp_missing_file_fails_at_once(ftp: _FtpServer, tmp_path: Path) -> None:
    url = f"{ftp.url}/missing.fa.gz"
    with pytest.raises(GenomixError, match=re.escape(f"{url}: FTP 550 ")):
        fetch_genome(url, tmp_path / "x.fa", retries=3, backoff=10)


def test_ftp_busy_server_is_retried(ftp: _FtpServer, tmp_path: Path) -> None:
    ftp.server.max_cons = 1  # the listening socket counts: every client gets "421 Too many"
    url = f"{ftp.url}/z.fa.gz"
    message = f"{url}: download failed after 2 attempts (FTP 421 "
    with pytest.raises(GenomixError, match=re.escape(message)):
        fetch_genome(url, tmp_path / "x.fa", retries=1, backoff=0)


def test_ftp_unreachable_fails_at_once(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ftp://127.0.0.1:{port}/z.fa.gz"
    with pytest.raises(GenomixError, match=re.escape(f"{url}: unreachable (") + ".*refused"):
        fetch_genome(url, tmp_path / "x.fa", retries=3, backoff=10)
