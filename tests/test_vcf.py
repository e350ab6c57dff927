"""predict-variants with pysam: a region of an indexed VCF, and the annotated VCF output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genomix.cli import main
from genomix.seqio.genome import open_genome
from genomix.vcf import FLAGS, INFO_FIELDS

pysam = pytest.importorskip("pysam")


def _calls(tmp_path: Path, human_genome: Path) -> Path:
    """Five SNVs on 'z' (one with a wrong REF, one near the start: N in its window)."""
    human = str(open_genome(human_genome)["z"][:]).upper()
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=z,length=1000000>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]  # fmt: skip
    for pos, name in ((5, "edge"), (2000, "a"), (3000, "b"), (7000, "c"), (9000, "d")):
        ref = human[pos - 1] if name != "b" else "ACGT".replace(human[pos - 1], "")[0]
        alt = "ACGT".replace(ref, "").replace(human[pos - 1], "")[0]
        lines.append(f"z\t{pos}\t{name}\t{ref}\t{alt}\t.\t.\t.")
    path = tmp_path / "calls.vcf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(model: Path, vcf: Path, genome: Path, out: Path, *flags: str) -> int:
    """predict-variants; the wrong REF of `_calls` (1 of 5, over the 10% stop) is allowed."""
    return main(["predict-variants", str(vcf), "--genome", str(genome), "--model", str(model),
                 "-o", str(out), "--allow-ref-mismatch", *flags])  # fmt: skip


def test_ref_mismatch_stop_writes_no_vcf(
    promoter_model: Path, human_genome: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vcf = _calls(tmp_path, human_genome)
    out = tmp_path / "a.vcf"
    argv = ["predict-variants", str(vcf), "--genome", str(human_genome), "--model",
            str(promoter_model), "-o", str(out), "--format", "vcf"]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 1
    assert "1 of 5 REF alleles differ from the genome" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.vcf"]


def test_annotated_vcf_reads_back_with_the_table_values(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    vcf = _calls(tmp_path, human_genome)
    assert _run(promoter_model, vcf, human_genome, tmp_path / "t.tsv") == 0
    assert _run(promoter_model, vcf, human_genome, tmp_path / "a.vcf", "--format", "vcf") == 0
    table = pd.read_csv(tmp_path / "t.tsv", sep="\t").set_index("id")
    with pysam.VariantFile(str(tmp_path / "a.vcf")) as annotated:
        assert set(annotated.header.info) == {key for key, *_ in (*INFO_FIELDS, *FLAGS)}
        records = list(annotated)
    assert [r.id for r in records] == ["edge", "a", "b", "c", "d"]
    for record in records:
        row = table.loc[record.id]
        # Number=1 (one model output): pysam gives a float rather than a tuple
        assert record.info["GX_REF"] == pytest.approx(row["ref:promoter"], rel=1e-5)
        assert record.info["GX_ALT"] == pytest.approx(row["alt:promoter"], rel=1e-5)
        assert record.info["GX_LOGIT_DIFF"] == pytest.approx(
            row["logit_diff:promoter"], rel=1e-5, abs=1e-6
        )
        assert ("GX_REF_MISMATCH" in record.info) == (not row["ref_match"])
        assert ("GX_UNK" in record.info) == row["contains_unk"]
    assert [r.id for r in records if "GX_REF_MISMATCH" in r.info] == ["b"]
    assert [r.id for r in records if "GX_UNK" in r.info] == ["edge"]


def test_annotated_vcf_to_standard_output(
    promoter_model: Path, human_genome: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    vcf = _calls(tmp_path, human_genome)
    assert _run(promoter_model, vcf, human_genome, tmp_path / "a.vcf", "--format", "vcf") == 0
    capsys.readouterr()
    assert _run(promoter_model, vcf, human_genome, Path("-"), "--format", "vcf") == 0
    assert capsys.readouterr().out == (tmp_path / "a.vcf").read_text()
    assert not Path("-").exists()


def test_region_of_an_indexed_vcf(
    promoter_model: Path, human_genome: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    vcf = _calls(tmp_path, human_genome)
    out = tmp_path / "r.tsv"
    assert _run(promoter_model, vcf, human_genome, out, "--region", "z:2500-8000") == 1
    assert "--region needs a bgzipped VCF with its index" in capsys.readouterr().err
    indexed = pysam.tabix_index(str(vcf), preset="vcf", keep_original=True)
    assert _run(promoter_model, Path(indexed), human_genome, out, "--region", "z:2500-8000") == 0
    assert pd.read_csv(out, sep="\t")["id"].tolist() == ["b", "c"]
    whole = tmp_path / "w.tsv"
    assert _run(promoter_model, vcf, human_genome, whole) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(out, sep="\t"),
        pd.read_csv(whole, sep="\t").query("id in ['b', 'c']").reset_index(drop=True),
        check_exact=False,
        atol=1e-6,  # other batch neighbours: float32 sums in another order
        rtol=0,
    )
