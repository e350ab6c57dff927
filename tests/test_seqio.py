"""Tests for genomix.seqio: the one gzip sniffer, the one genome opener's policy, the one BED
parser, the one complement table, and no cross-module imports of private names in genomix/."""

from __future__ import annotations

import ast
import gzip
from pathlib import Path

import pyfaidx
import pytest
from Bio import bgzf

import genomix.seqio.outputs
from genomix.errors import GenomixError
from genomix.seqio.bed import bed_lines, parse_bed_line, read_bed
from genomix.seqio.compression import open_bytes, sniff_compression, sniff_file
from genomix.seqio.genome import open_genome
from genomix.seqio.outputs import OutputFormat, open_table, output_format_of
from genomix.seqio.regions import reverse_complement

PACKAGE = Path(__file__).resolve().parents[1] / "genomix"
FASTA = b">chr1 first\nACGTACGTAC\nGGTTAA\n>chr2\nNNNNACGT\n"

# Saved Hugging Face model directories carry a copy of modeling_genomix.py, which imports this
# name; renaming it would break every exported model.
ALLOWED_PRIVATE = {("genomix.huggingface.modeling_genomix", "genomix.model", "_init_weights")}


def _write_bgzf(path: Path, data: bytes) -> Path:
    with bgzf.BgzfWriter(str(path), "wb") as handle:
        handle.write(data)
    return path


@pytest.fixture
def fastas(tmp_path: Path) -> dict[str, Path]:
    """The same two-record FASTA as plain, gzip and BGZF files."""
    plain = tmp_path / "plain.fa"
    plain.write_bytes(FASTA)
    gzipped = tmp_path / "gzip.fa.gz"
    gzipped.write_bytes(gzip.compress(FASTA))
    return {"plain": plain, "gzip": gzipped, "bgzf": _write_bgzf(tmp_path / "bgzf.fa.gz", FASTA)}


def test_sniffer_tells_plain_gzip_and_bgzf(fastas: dict[str, Path]) -> None:
    for kind, path in fastas.items():
        assert sniff_file(path) == kind
        assert sniff_compression(path.read_bytes()[:18]) == kind
        with open_bytes(path) as handle:
            assert handle.read() == FASTA
    assert sniff_compression(b"") == "plain"
    assert sniff_compression(b"\x1f") == "plain"
    # too short to see BGZF's extra subfield: still compressed
    assert sniff_compression(fastas["bgzf"].read_bytes()[:4]) == "gzip"


def test_sniffer_ignores_the_file_name(fastas: dict[str, Path], tmp_path: Path) -> None:
    renamed = tmp_path / "looks_plain.fa"
    renamed.write_bytes(fastas["gzip"].read_bytes())
    assert sniff_file(renamed) == "gzip"
    fake = tmp_path / "fake.fa.gz"
    fake.write_bytes(FASTA)
    assert sniff_file(fake) == "plain"


@pytest.mark.parametrize("kind", ["plain", "bgzf"])
def test_opener_indexes_plain_and_bgzf(fastas: dict[str, Path], kind: str) -> None:
    for load_plain_gzip in (False, True):
        genome = open_genome(fastas[kind], load_plain_gzip=load_plain_gzip)
        assert isinstance(genome, pyfaidx.Fasta)
        assert str(genome["chr1"][0:16]) == "ACGTACGTACGGTTAA"
        assert str(genome["chr2"][:]) == "NNNNACGT"
        genome.close()


def test_opener_refuses_plain_gzip_unless_asked_to_load_it(fastas: dict[str, Path]) -> None:
    with pytest.raises(GenomixError, match="gzip.fa.gz: plain gzip cannot be indexed"):
        open_genome(fastas["gzip"])
    assert open_genome(fastas["gzip"], load_plain_gzip=True) == {
        "chr1": "ACGTACGTACGGTTAA",
        "chr2": "NNNNACGT",
    }
    assert not Path(f"{fastas['gzip']}.fai").exists()


def test_opener_refuses_bgzf_without_a_gz_name(fastas: dict[str, Path], tmp_path: Path) -> None:
    misnamed = tmp_path / "bgzf.fa"
    misnamed.write_bytes(fastas["bgzf"].read_bytes())
    with pytest.raises(GenomixError, match="bgzf.fa: BGZF-compressed but not named .gz"):
        open_genome(misnamed, load_plain_gzip=True)


BED = (
    "track name=peaks\n"
    "browser position chr1:1-100\n"
    "# a comment\n"
    "\n"
    "chr1\t10\t20\n"  # BED3
    "chr1\t30\t40\tgene\t0\t-\n"  # BED6
    "chr2\t5\t9\tpeak1\t1000\t.\t7.5\t3.2\t1.1\t2\n"  # narrowPeak
    "chr2\t1\t3\t.\t0\t+\r\n"  # name '.', CRLF
)


def test_bed_parser_reads_bed3_bed6_narrowpeak_and_skips_headers(tmp_path: Path) -> None:
    for name, data in (("a.bed", BED.encode()), ("a.bed.gz", gzip.compress(BED.encode()))):
        path = tmp_path / name
        path.write_bytes(data)
        lines = list(bed_lines(path))
        assert [line.number for line in lines] == [5, 6, 7, 8]
        assert lines[0].where == f"{path}: line 5"
        got = [parse_bed_line(line) for line in lines]
        assert [(i.chrom, i.start, i.end, i.name, i.strand) for i in got] == [
            ("chr1", 10, 20, None, "."),
            ("chr1", 30, 40, "gene", "-"),
            ("chr2", 5, 9, "peak1", "."),
            ("chr2", 1, 3, None, "+"),
        ]
        table = read_bed(path)
        assert table.values.tolist() == [
            ["chr1", 10, 20, "."],
            ["chr1", 30, 40, "-"],
            ["chr2", 5, 9, "."],
            ["chr2", 1, 3, "+"],
        ]


def test_bed_parser_names_file_and_line_of_a_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.bed"
    path.write_text("track x\nchr1\t1\t5\nchr1\tten\t20\n")
    with pytest.raises(GenomixError, match=r"bad.bed: line 3: expected tab-separated chrom"):
        read_bed(path)
    path.write_bytes(b"chr1\t1\t5\nchr\xff\t1\t5\n")
    with pytest.raises(GenomixError, match="bad.bed: line 2: bytes that are not UTF-8 text"):
        read_bed(path)
    path.write_text("track only\n# header\n")
    with pytest.raises(GenomixError, match="bad.bed: no intervals"):
        read_bed(path)


def test_reverse_complement_with_iupac() -> None:
    # by hand: complement TGCA YR MK VB HD S W N, then reversed
    assert reverse_complement("ACGTRYKMBVDHSWN") == "NWSDHBVKMRYACGT"
    assert reverse_complement("acgtn") == "nacgt"
    assert reverse_complement("AACG") == "CGTT"
    assert reverse_complement("") == ""
    seq = "ACGTRYKMBVDHSWNacgtrykmbvdhswn"
    assert reverse_complement(reverse_complement(seq)) == seq


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_imports(
    text: str, module: str, *, is_package: bool = False
) -> list[tuple[str, str, int]]:
    """(imported module, name, line) of every ``from <genomix module> import _name`` in the
    source `text` of `module` (relative imports resolved; dunder names allowed)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0]
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        if source != "genomix" and not source.startswith("genomix."):
            continue
        found += [
            (source, alias.name, node.lineno)
            for alias in node.names
            if alias.name.startswith("_") and not alias.name.startswith("__")
        ]
    return found


def test_private_import_finder() -> None:
    text = (
        "from __future__ import annotations\n"
        "from os import _exit\n"
        "from genomix.seqio.fasta import _CHUNK, read_fasta\n"
        "from genomix import __version__\n"
        "from .tables import _x, y\n"
        "from .. import _top\n"
    )
    assert _private_imports(text, "genomix.data.labels") == [
        ("genomix.seqio.fasta", "_CHUNK", 3),
        ("genomix.data.tables", "_x", 5),
        ("genomix", "_top", 6),
    ]
    assert _private_imports("from .fasta import _a\n", "genomix.seqio", is_package=True) == [
        ("genomix.seqio.fasta", "_a", 1)
    ]


def test_no_module_imports_another_modules_private_names() -> None:
    offences = [
        f"{module} line {line}: from {source} import {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for module in [_module_name(path)]
        for source, name, line in _private_imports(
            path.read_text(), module, is_package=path.name == "__init__.py"
        )
        if (module, source, name) not in ALLOWED_PRIVATE
    ]
    assert not offences, "private names imported across modules:\n" + "\n".join(offences)


def test_output_format_is_picked_by_name_or_suffix() -> None:
    assert output_format_of("out.parquet", None) == "parquet"
    assert output_format_of("OUT.PARQUET", None) == "parquet"
    assert output_format_of("out.tsv.gz", None) == "tsv"
    assert output_format_of("-", None) == "tsv"
    assert output_format_of("out.parquet", "tsv") == "tsv"
    with pytest.raises(GenomixError, match="output format 'xlsx' is not one of tsv, parquet"):
        output_format_of("out.tsv", "xlsx")


def test_a_registered_output_format_writes_through_open_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A new format is one entry of FORMATS: open_table finds it by suffix and writes with it."""

    class CsvRows:
        def __init__(self, path: Path, columns: list[str]) -> None:
            self._handle = open(path, "w")  # noqa: SIM115
            self._handle.write(",".join(columns) + "\n")

        def write(self, row: list) -> None:
            self._handle.write(",".join(map(str, row)) + "\n")

        def close(self) -> None:
            self._handle.close()

    csv_format = OutputFormat((".csv",), lambda path, columns, *_: CsvRows(path, columns))
    monkeypatch.setitem(genomix.seqio.outputs.FORMATS, "csv", csv_format)
    out = tmp_path / "scores.csv"
    with open_table(out, ["id", "score"], [str, float]) as table:
        table.write(["a", 0.5])
    assert out.read_text() == "id,score\na,0.5\n"
    with (
        pytest.raises(GenomixError, match="standard output takes TSV only"),
        open_table("-", ["id"], [str], output_format="csv"),
    ):
        pass
