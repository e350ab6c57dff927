"""Tests for genomix.seqio.genome: fetch (HTTP, resume, retry, checksums, file: URLs) and indexing.

Download and checksum behaviour is tested end to end through ``fetch_genome``; the pure helpers
of genomix.seqio.download (``bsd_sum``, URL and checksum-file parsing) are in test_download.py.

Downloads come from a local HTTP server on 127.0.0.1 (port 0) serving the real 1 Mb human
slice from data/demo/; its behaviour per request is scripted (drop half way, 503, ignore Range).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyfaidx
import pytest

from genomix.errors import GenomixError
from genomix.seqio.download import resume_record
from genomix.seqio.fasta import read_fasta
from genomix.seqio.genome import fetch_genome, fetch_sequence, open_genome

ROOT = Path(__file__).resolve().parents[1]
HUMAN = ROOT / "data" / "demo" / "human_grch37_chr20_1mb.fa.gz"
HUMAN_MD5 = "9eeb5cce3fdc672e1b647715a7515baa"  # SOURCE.md: z.fa.gz as stored
HUMAN_SHA256 = "4d075bda1b2823127b2331f95c5e1220df80b70a000c71f2af94281f1a5ce085"
HUMAN_BSD = (31764, 285)  # `sum -r z.fa.gz` (GNU coreutils 9.1)
ECOLI = ROOT / "data" / "demo" / "GCF_000005845.2_ASM584v2_genomic.fna.gz"


@pytest.fixture(scope="module")
def human_seq() -> str:
    return next(read_fasta(HUMAN)).sequence


@dataclass
class Server:
    """Files served by path, a per-path script of behaviours, and a log of (path, Range)."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    script: dict[str, list[str]] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    etag: str = '"v1"'


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        state.log.append((self.path, self.headers.get("Range")))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        steps = state.script.get(self.path)
        step = steps.pop(0) if steps else "ok"
        if step == "503":
            self.send_error(503)
            return
        if step == "stall":  # answer after the client's timeout; it has hung up by then
            time.sleep(1.5)
            return
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        if match and step != "ignore_range" and if_range in (None, state.etag):
            start, status = int(match[1]), 206
            if start >= len(body):
                self.send_response(416)
                self.send_header("ETag", state.etag)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        data = body[start:]
        self.send_response(status)
        self.send_header("ETag", state.etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # "drop": promise the whole body, send half, hang up
        self.wfile.write(data[: len(data) // 2] if step == "drop" else data)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = Server(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    state.files["/hs/z.fa.gz"] = HUMAN.read_bytes()
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _check_human(out: Path, human_seq: str) -> None:
    """``out`` holds the human slice, indexed, with nothing left over beside it."""
    genome = open_genome(out)
    assert fetch_sequence(genome, "z", 0, 1_000_000) == human_seq
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, out.name + ".fai"]


def test_download_md5_verified(server: Server, tmp_path: Path, human_seq: str) -> None:
    out = fetch_genome(f"{server.url}/hs/z.fa.gz", tmp_path / "hs.fa", md5=HUMAN_MD5)
    assert out == tmp_path / "hs.fa"
    _check_human(out, human_seq)
    lines = out.read_text().splitlines()
    assert {len(line) for line in lines[1:-1]} == {60}


def test_resume_after_dropped_connection(server: Server, tmp_path: Path, human_seq: str) -> None:
    server.script["/hs/z.fa.gz"] = ["drop"]
    out = tmp_path / "hs.fa"
    url = f"{server.url}/hs/z.fa.gz"
    fetch_genome(url, out, sha256=HUMAN_SHA256, retries=2, backoff=0, progress=True)
    half = len(server.files["/hs/z.fa.gz"]) // 2
    assert server.log == [("/hs/z.fa.gz", None), ("/hs/z.fa.gz", f"bytes={half}-")]
    _check_human(out, human_seq)


def _leftover_part(server: Server, tmp_path: Path, data: bytes, *, url: str | None = None) -> None:
    """A ``hs.fa.part`` holding `data`, with the record a download of `url` writes beside it."""
    url = url or f"{server.url}/hs/z.fa.gz"
    (tmp_path / "hs.fa.part").write_bytes(data)
    size = len(server.files["/hs/z.fa.gz"])
    record = {"url": url, "validator": server.etag, "size": size}
    resume_record(tmp_path / "hs.fa.part").write_text(json.dumps(record))


def test_resume_from_part_left_by_earlier_run(
    server: Server, tmp_path: Path, human_seq: str
) -> None:
    out = tmp_path / "hs.fa"
    _leftover_part(server, tmp_path, server.files["/hs/z.fa.gz"][:1000])
    fetch_genome(f"{server.url}/hs/z.fa.gz", out, md5=HUMAN_MD5)
    assert server.log == [("/hs/z.fa.gz", "bytes=1000-")]
    _check_human(out, human_seq)


def test_part_of_another_file_is_not_resumed(
    server: Server, tmp_path: Path, human_seq: str
) -> None:
    """Issue 12: a leftover .part with no record, or one of another URL, is started over."""
    out = tmp_path / "hs.fa"
    (tmp_path / "hs.fa.part").write_bytes(b">other\n" + b"ACGT" * 150)
    fetch_genome(f"{server.url}/hs/z.fa.gz", out)  # no checksum to catch a stitched file
    assert server.log == [("/hs/z.fa.gz", None)]
    _check_human(out, human_seq)
    server.log.clear()
    _leftover_part(server, tmp_path, b">other\n" + b"ACGT" * 150, url=f"{server.url}/x.fa.gz")
    fetch_genome(f"{server.url}/hs/z.fa.gz", out)
    assert server.log == [("/hs/z.fa.gz", None)]
    _check_human(out, human_seq)


def test_part_of_a_changed_file_restarts(server: Server, tmp_path: Path, human_seq: str) -> None:
    """If-Range: when the file changed since (new ETag), the server sends it whole."""
    out = tmp_path / "hs.fa"
    _leftover_part(server, tmp_path, b">old version\n" + b"ACGT" * 150)
    server.etag = '"v2"'
    fetch_genome(f"{server.url}/hs/z.fa.gz", out)
    assert server.log == [("/hs/z.fa.gz", "bytes=613-")]  # asked; got 200 with the whole file
    _check_human(out, human_seq)


def test_complete_part_is_not_downloaded_again(server: Server, tmp_path: Path) -> None:
    _leftover_part(server, tmp_path, server.files["/hs/z.fa.gz"])
    fetch_genome(f"{server.url}/hs/z.fa.gz", tmp_path / "hs.fa", md5=HUMAN_MD5)
    assert len(server.log) == 1  # answered 416 with the full size: nothing to fetch


def test_part_longer_than_file_restarts(server: Server, tmp_path: Path, human_seq: str) -> None:
    out = tmp_path / "hs.fa"
    (tmp_path / "hs.fa.part").write_bytes(server.files["/hs/z.fa.gz"] + b"junk")
    fetch_genome(f"{server.url}/hs/z.fa.gz", out, md5=HUMAN_MD5, backoff=0)
    assert [rng for _, rng in server.log] == [None]  # longer than the recorded size: not resumed
    _leftover_part(server, tmp_path, server.files["/hs/z.fa.gz"] + b"junk")
    server.log.clear()
    fetch_genome(f"{server.url}/hs/z.fa.gz", out, md5=HUMAN_MD5, backoff=0)
    assert [rng for _, rng in server.log] == [None]
    _check_human(out, human_seq)


def test_server_ignoring_range_restarts_cleanly(
    server: Server, tmp_path: Path, human_seq: str
) -> None:
    server.script["/hs/z.fa.gz"] = ["drop", "ignore_range"]
    out = tmp_path / "hs.fa"
    fetch_genome(f"{server.url}/hs/z.fa.gz", out, md5=HUMAN_MD5, retries=2, backoff=0)
    assert server.log[1][1] is not None  # asked to resume, got the whole file with 200
    _check_human(out, human_seq)


def test_5xx_retried_then_gives_up(server: Server, tmp_path: Path) -> None:
    server.script["/hs/z.fa.gz"] = ["503", "503"]
    fetch_genome(f"{server.url}/hs/z.fa.gz", tmp_path / "a.fa", retries=2, backoff=0.001)
    assert len(server.log) == 3
    server.log.clear()
    server.script["/hs/z.fa.gz"] = ["503", "503"]
    url = f"{server.url}/hs/z.fa.gz"
    with pytest.raises(GenomixError, match=re.escape(f"{url}: download failed after 2 attempts")):
        fetch_genome(url, tmp_path / "b.fa", retries=1, backoff=0)
    assert len(server.log) == 2
    # issue 12: it said "resume from b.fa.part", a file that does not exist
    server.script["/hs/z.fa.gz"] = ["503", "503"]
    with pytest.raises(
        GenomixError, match=r"\(HTTP 503 Service Unavailable\); run again to retry$"
    ):
        fetch_genome(url, tmp_path / "b.fa", retries=1, backoff=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.fa", "a.fa.fai"]


def test_timeout_retried(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, human_seq: str
) -> None:
    monkeypatch.setattr("genomix.seqio.download._TIMEOUT_S", 0.5)
    server.script["/hs/z.fa.gz"] = ["stall"]
    out = fetch_genome(f"{server.url}/hs/z.fa.gz", tmp_path / "hs.fa", retries=1, backoff=0)
    assert len(server.log) == 2
    _check_human(out, human_seq)


def test_checksum_mismatch_removes_download(server: Server, tmp_path: Path) -> None:
    url = f"{server.url}/hs/z.fa.gz"
    with pytest.raises(GenomixError) as info:
        fetch_genome(url, tmp_path / "hs.fa", md5="0" * 32)
    message = str(info.value)
    assert message == f"{url}: md5 mismatch: expected {'0' * 32}, got {HUMAN_MD5}"
    assert list(tmp_path.iterdir()) == []


def test_ucsc_md5sum_txt(server: Server, tmp_path: Path, human_seq: str) -> None:
    server.files["/hs/md5sum.txt"] = (
        f"{'1' * 32}  other.fa.gz\n{HUMAN_MD5}  z.fa.gz\n{'2' * 32}  z.fa.gz.bak\n".encode()
    )
    out = tmp_path / "hs.fa"
    fetch_genome(f"{server.url}/hs/z.fa.gz", out, checksum_url=f"{server.url}/hs/md5sum.txt")
    _check_human(out, human_seq)


def test_ucsc_md5sum_txt_mismatch_and_missing_entry(server: Server, tmp_path: Path) -> None:
    url = f"{server.url}/hs/z.fa.gz"
    server.files["/hs/md5sum.txt"] = f"{'3' * 32}  z.fa.gz\n".encode()
    with pytest.raises(GenomixError, match=f"md5 mismatch: expected {'3' * 32}, got {HUMAN_MD5}"):
        fetch_genome(url, tmp_path / "hs.fa", checksum_url=f"{server.url}/hs/md5sum.txt")
    server.files["/hs/md5sum.txt"] = f"{'3' * 32}  chr1.fa.gz\n".encode()
    with pytest.raises(GenomixError, match="md5sum.txt: no checksum listed for 'z.fa.gz'"):
        fetch_genome(url, tmp_path / "hs.fa", checksum_url=f"{server.url}/hs/md5sum.txt")
    assert list(tmp_path.iterdir()) == []


def test_ensembl_checksums_bsd_sum(server: Server, tmp_path: Path, human_seq: str) -> None:
    server.files["/hs/CHECKSUMS"] = (
        f"12345 9 README\n{HUMAN_BSD[0]} {HUMAN_BSD[1]} z.fa.gz\n".encode()
    )
    out = tmp_path / "hs.fa"
    fetch_genome(f"{server.url}/hs/z.fa.gz", out, checksum_url=f"{server.url}/hs/CHECKSUMS")
    _check_human(out, human_seq)
    server.files["/hs/CHECKSUMS"] = b"1 285 z.fa.gz\n"
    with pytest.raises(GenomixError, match="bsd mismatch: expected 1 285, got 31764 285"):
        fetch_genome(f"{server.url}/hs/z.fa.gz", out, checksum_url=f"{server.url}/hs/CHECKSUMS")


def test_404_fails_at_once_with_url(server: Server, tmp_path: Path) -> None:
    url = f"{server.url}/hs/missing.fa.gz"
    with pytest.raises(GenomixError, match=re.escape(f"{url}: HTTP 404")):
        fetch_genome(url, tmp_path / "x.fa", retries=3, backoff=10)
    assert len(server.log) == 1


def test_unreachable_fails_at_once_with_url(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/z.fa.gz"
    with pytest.raises(GenomixError, match=re.escape(f"{url}: unreachable")):
        fetch_genome(url, tmp_path / "x.fa", retries=3, backoff=10)


def test_file_url_relative_and_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, human_seq: str
) -> None:
    monkeypatch.chdir(ROOT)  # file:data/... resolves against the current directory
    rel = fetch_genome("file:data/demo/human_grch37_chr20_1mb.fa.gz", tmp_path / "a" / "hs.fa")
    _check_human(rel, human_seq)
    absolute = fetch_genome(f"file://{HUMAN}", tmp_path / "b" / "hs.fa", md5=HUMAN_MD5)
    _check_human(absolute, human_seq)
    plain = fetch_genome(str(HUMAN), tmp_path / "c" / "hs.fa", sha256=HUMAN_SHA256)
    _check_human(plain, human_seq)
    with pytest.raises(GenomixError, match="file URL names host 'data'"):
        fetch_genome("file://data/demo/x.fa.gz", tmp_path / "d.fa")
    with pytest.raises(GenomixError, match=re.escape("file:data/nope.fa: no such file")):
        fetch_genome("file:data/nope.fa", tmp_path / "d.fa")


def _toy_genome(tmp_path: Path) -> Path:
    """gzip FASTA with Ensembl names, uneven lines and soft-masked bases."""
    text = ">1 dna:chromosome\nACGTacgt\nAC\nGTACGTAC\n>2\nGGGG\n>MT\nnnAC\nGT\n>GL000192.1\nTT\n"
    path = tmp_path / "toy.fa.gz"
    path.write_bytes(gzip.compress(text.encode()))
    return path


def test_ecoli_whole_genome_sequence_md5(tmp_path: Path) -> None:
    sha256 = "254606e2722f64ca0906dfc1d41bceac41be72c335627c23f831b007939c8a48"  # SOURCE.md
    genome = open_genome(fetch_genome(str(ECOLI), tmp_path / "ecoli.fa", sha256=sha256))
    seq = fetch_sequence(genome, "NC_000913.3", 0, 4_641_652)
    # SOURCE.md: md5 of the sequence alone (uppercase, no header, no newlines)
    assert hashlib.md5(seq.encode()).hexdigest() == "482a2b04485ec8c4b5f4eaba2c2002da"


def test_chroms_selection_and_ucsc_rename(tmp_path: Path) -> None:
    out = fetch_genome(
        str(_toy_genome(tmp_path)), tmp_path / "out.fa", chroms=("chr1", "MT"), rename="ucsc"
    )
    assert out.read_text() == ">chr1 dna:chromosome\nACGTacgtACGTACGTAC\n>chrM\nnnACGT\n"
    genome = open_genome(out)
    assert list(genome.keys()) == ["chr1", "chrM"]
    assert fetch_sequence(genome, "chr1", 4, 10) == "ACGTAC"  # readers upper-case


def test_ensembl_rename_and_scaffolds_kept(tmp_path: Path) -> None:
    ucsc = fetch_genome(str(_toy_genome(tmp_path)), tmp_path / "ucsc.fa", rename="ucsc")
    assert list(open_genome(ucsc).keys()) == ["chr1", "chr2", "chrM", "GL000192.1"]
    back = fetch_genome(str(ucsc), tmp_path / "ens.fa", rename="ensembl")
    assert list(open_genome(back).keys()) == ["1", "2", "MT", "GL000192.1"]


def test_missing_chrom_names_it_and_the_file(tmp_path: Path) -> None:
    src = str(_toy_genome(tmp_path))
    with pytest.raises(
        GenomixError, match=re.escape(f"{src}: chromosome(s) chr22 not in the file")
    ):
        fetch_genome(src, tmp_path / "out.fa", chroms=("chr1", "chr22"), rename="ucsc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.fa.gz"]


def test_duplicate_after_rename_refused(tmp_path: Path) -> None:
    src = tmp_path / "dup.fa"
    src.write_text(">1\nAC\n>chr1\nGT\n")
    with pytest.raises(GenomixError, match="line 3: duplicate sequence name 'chr1'"):
        fetch_genome(str(src), tmp_path / "out.fa", rename="ucsc")


def test_bgzip_output_and_input(tmp_path: Path, human_seq: str) -> None:
    out = fetch_genome(str(HUMAN), tmp_path / "hs.fa.gz")
    assert open_genome(out).faidx._bgzf
    assert fetch_sequence(open_genome(out), "z", 999_000, 1_000_000) == human_seq[999_000:]
    again = fetch_genome(str(out), tmp_path / "again.fa")  # bgzip input
    assert fetch_sequence(open_genome(again), "z", 0, 500) == human_seq[:500]


def _fasta_with_index(tmp_path: Path, seq: str) -> Path:
    path = tmp_path / "g.fa"
    path.write_text(">g\n" + "\n".join(seq[i : i + 10] for i in range(0, len(seq), 10)) + "\n")
    pyfaidx.Faidx(str(path)).close()
    return path


def test_stale_fai_rebuilt_when_fasta_is_newer(tmp_path: Path) -> None:
    path = _fasta_with_index(tmp_path, "A" * 20)
    path.write_text(">g\n" + "C" * 10 + "\n" + "G" * 10 + "\n" + "T" * 5 + "\n")
    fai = Path(f"{path}.fai")
    os.utime(fai, (1_000_000, 1_000_000))  # older than the FASTA
    assert fetch_sequence(open_genome(path), "g", 18, 25) == "GGTTTTT"


def test_stale_fai_rebuilt_when_sizes_disagree(tmp_path: Path) -> None:
    # an .fai newer than its FASTA (copied with cp -p, restored from a backup...) fools pyfaidx
    path = _fasta_with_index(tmp_path, "A" * 40)
    fai = Path(f"{path}.fai")
    path.write_text(">g\n" + "C" * 10 + "\n")
    os.utime(fai, (path.stat().st_mtime + 100,) * 2)
    genome = open_genome(path)
    assert len(genome["g"]) == 10
    assert fetch_sequence(genome, "g", 0, 10) == "C" * 10


def test_plain_gzip_refused(tmp_path: Path) -> None:
    with pytest.raises(GenomixError, match=re.escape(f"{HUMAN}: plain gzip cannot be indexed")):
        open_genome(HUMAN)


def test_uneven_line_widths_refused(tmp_path: Path) -> None:
    path = tmp_path / "uneven.fa"
    path.write_text(">a\nACGT\nACGT\n>b\nACGTAC\nAC\nACGTAC\n")
    with pytest.raises(GenomixError, match=r"record 'b' line 6: uneven line width.*genomix fetch"):
        open_genome(path)
    fixed = fetch_genome(str(path), tmp_path / "even.fa")
    assert fetch_sequence(open_genome(fixed), "b", 0, 14) == "ACGTACACACGTAC"


def test_open_missing_genome(tmp_path: Path) -> None:
    with pytest.raises(GenomixError, match="absent.fa: no such FASTA file"):
        open_genome(tmp_path / "absent.fa")


def test_fetch_sequence_errors_name_chrom_and_file(tmp_path: Path) -> None:
    path = _fasta_with_index(tmp_path, "ACGT" * 5)
    genome = open_genome(path)
    assert fetch_sequence(genome, "g", 3, 3) == ""
    with pytest.raises(GenomixError, match=re.escape(f"{path}: no chromosome 'chr1'")):
        fetch_sequence(genome, "chr1", 0, 1)
    for start, end in [(-1, 5), (5, 21), (6, 5)]:
        with pytest.raises(GenomixError, match=re.escape(f"{path}: g:{start}-{end} is outside g")):
            fetch_sequence(genome, "g", start, end)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(GenomixError, match="rename='refseq'"):
        fetch_genome(str(HUMAN), tmp_path / "x.fa", rename="refseq")
    with pytest.raises(GenomixError, match="md5='xyz': not a hexadecimal md5"):
        fetch_genome(str(HUMAN), tmp_path / "x.fa", md5="xyz")
