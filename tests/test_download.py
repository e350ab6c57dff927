"""Tests for genomix.download's pure parts: BSD ``sum``, source paths, checksum listings.

HTTP download, resume, retries and verification run end to end in test_genome.py.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

import genomix.genome
from genomix.download import _parse_checksum_file, bsd_sum, local_path
from genomix.errors import GenomixError

HUMAN = Path(__file__).resolve().parents[1] / "data" / "demo" / "human_grch37_chr20_1mb.fa.gz"
HUMAN_BSD = (31764, 285)  # `sum -r human_grch37_chr20_1mb.fa.gz` (GNU coreutils 9.1)


def _bsd_sum_by_definition(data: bytes) -> int:
    checksum = 0
    for byte in data:
        checksum = (((checksum >> 1) | ((checksum & 1) << 15)) + byte) & 0xFFFF
    return checksum


def test_bsd_sum_known_value() -> None:
    assert bsd_sum(HUMAN) == HUMAN_BSD
    assert genomix.genome.bsd_sum is bsd_sum  # still importable from where it used to live


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
    monkeypatch.setattr("genomix.download._CHUNK", 7)
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


def test_parse_checksum_file() -> None:
    md5, sha = "a" * 32, "B" * 64
    listing = f"{md5} *dir/z.fa.gz\n{sha}  y.fa.gz\n12 3 x.fa.gz\n\nbad line w.fa.gz\n"
    assert _parse_checksum_file(listing, "z.fa.gz", "u") == ("md5", md5)
    assert _parse_checksum_file(listing, "y.fa.gz", "u") == ("sha256", sha.lower())
    assert _parse_checksum_file(listing, "x.fa.gz", "u") == ("bsd", "12 3")
    with pytest.raises(GenomixError, match="u: line 5: unrecognised checksum line"):
        _parse_checksum_file(listing, "w.fa.gz", "u")
    with pytest.raises(GenomixError, match="u: no checksum listed for 'v.fa.gz'"):
        _parse_checksum_file(listing, "v.fa.gz", "u")
