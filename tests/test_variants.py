"""genomix predict-variants: VCF parsing, centred windows, ref_match, log-odds changes."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from conftest import HUMAN_VCF

from genomix.checkpoint import load_classifier
from genomix.cli import main
from genomix.errors import GenomixError
from genomix.model_files import write_checksums
from genomix.scoring import encode_sequences, score_logits, score_sequences
from genomix.seqio.genome import open_genome
from genomix.variants import (
    allele_context,
    allele_windows,
    centred_windows,
    predict_variants,
    read_vcf,
)

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _vcf(tmp_path: Path, lines: list[str], name: str = "calls.vcf") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join("\t".join(fields) + "\t.\t.\t.\n" for fields in lines))
    return path


def _human(human_genome: Path) -> str:
    return str(open_genome(human_genome)["z"][:]).upper()


def test_read_vcf_one_variant_per_allele_plain_or_gzip(tmp_path: Path) -> None:
    plain = _vcf(tmp_path, [["chr1", "5", "rs1", "a", "C,t,<DEL>"], ["chr1", "9", ".", "GT", "G"]])
    gz = tmp_path / "calls.vcf.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    variants = list(read_vcf(plain))
    assert variants == list(read_vcf(gz))
    assert [(v.pos, v.id, v.ref, v.alt, v.line) for v in variants] == [
        (5, "rs1", "A", "C", 3),
        (5, "rs1", "A", "T", 3),
        (5, "rs1", "A", "<DEL>", 3),
        (9, ".", "GT", "G", 4),
    ]
    assert [v.is_sequence for v in variants] == [True, True, False, True]


def test_read_vcf_errors_name_file_and_line(tmp_path: Path) -> None:
    no_header = tmp_path / "none.vcf"
    no_header.write_text("##fileformat=VCFv4.2\n")
    with pytest.raises(GenomixError, match="none.vcf: no #CHROM header line"):
        list(read_vcf(no_header))
    bcf = tmp_path / "calls.bcf"  # BGZF-compressed; starts with the magic BCF\2\2 once inflated
    bcf.write_bytes(gzip.compress(b"BCF\x02\x02" + bytes(range(256))))
    with pytest.raises(GenomixError, match="calls.bcf: BCF .* bcftools view -Oz"):
        list(read_vcf(bcf))
    early = tmp_path / "early.vcf"
    early.write_text("##fileformat=VCFv4.2\nz\t5\t.\tA\tC\n" + HEADER)
    with pytest.raises(GenomixError, match="early.vcf: line 2: record before the #CHROM header"):
        list(read_vcf(early, skip_invalid=True))
    bad = _vcf(
        tmp_path,
        [["z", "0", ".", "A", "C"], ["z", "7", ".", "AX", "C"], ["z", "8", ".", "A", "C"]],
        "bad.vcf",
    )
    with pytest.raises(GenomixError, match="bad.vcf: line 3: POS '0' is not a 1-based position"):
        list(read_vcf(bad))
    skipped: list[str] = []
    assert [v.pos for v in read_vcf(bad, skip_invalid=True, on_skip=skipped.append)] == [8]
    assert "line 4: REF 'AX' is not A, C, G, T or N bases" in skipped[1]
    short = _vcf(tmp_path, [["z", "5", ".", "A", "Q"]], "alt.vcf")
    with pytest.raises(GenomixError, match="alt.vcf: line 3: ALT allele 'Q' is neither"):
        list(read_vcf(short))


def test_centred_windows_by_hand() -> None:
    left, right = "ACGTAC", "TTGCAA"
    # SNV: left flank (6 - 1) // 2 = 2 bases, right flank 3
    assert centred_windows(left + "G" + right, 1, "C", 6) == ("ACGTTG", "ACCTTG")
    # insertion: the alt window's flanks shrink to 1 and 2 bases
    assert centred_windows(left + "G" + right, 1, "GAA", 6) == ("ACGTTG", "CGAATT")
    # deletion: the ref window holds GT with 2 + 2 flanks, the alt window G with 2 + 3
    assert centred_windows(left + "GT" + right, 2, "G", 6) == ("ACGTTT", "ACGTTG")
    # an allele longer than the window: its central bases
    assert centred_windows(left + "G" + right, 1, "AACCGGTT", 6)[1] == "ACCGGT"


def test_allele_context_pads_past_chromosome_ends(tmp_path: Path) -> None:
    fasta = tmp_path / "small.fa"
    fasta.write_text(">c\nACGTACGTAC\n")
    genome = open_genome(fasta)
    assert allele_context(genome, "c", 0, 1, 3) == "NNNACGT"
    assert allele_context(genome, "c", 8, 10, 3) == "CGTACNNN"


def test_every_demo_ref_allele_matches_the_genome(human_genome: Path) -> None:
    messages: list[str] = []
    windows = list(
        allele_windows(
            read_vcf(HUMAN_VCF), open_genome(human_genome), 300, HUMAN_VCF, report=messages.append
        )
    )
    # 2,687 records, 2,698 ALT alleles, of which 5 symbolic (<CN0>, <INS:ME:ALU>, ...)
    assert len(windows) == 2693
    assert all(w.ref_match for w in windows)
    assert {len(w.ref_window) for w in windows} == {len(w.alt_window) for w in windows} == {300}
    assert messages == [
        f"{HUMAN_VCF}: 5 ALT allele(s) are symbolic, breakends, '*' or '.' and were not scored"
    ]


def test_scores_ref_match_and_zero_change(
    promoter_model: Path, human_genome: Path, tmp_path: Path, device: str
) -> None:
    human = _human(human_genome)
    lines = [
        ["z", "2000", "snv", human[1999], "ACGT".replace(human[1999], "")[0]],
        ["z", "3000", "wrong_ref", "ACGT".replace(human[2999], "")[0], human[2999]],
        ["z", "4000", "same", human[3999], human[3999]],
        ["z", "5000", "del", human[4999:5003], human[4999]],
        ["z", "6000", "ins", human[5999], human[5999] + "GATTACA"],
    ]
    out = tmp_path / "effects.tsv"
    vcf = _vcf(tmp_path, lines)
    written = predict_variants(
        promoter_model, vcf, human_genome, out, device=device, allow_ref_mismatch=True
    )
    assert written == 5
    table = pd.read_csv(out, sep="\t").set_index("id")
    assert list(table.columns) == [
        "chrom",
        "pos",
        "ref",
        "alt",
        "ref_match",
        "contains_unk",
        "ref:promoter",
        "alt:promoter",
        "logit_diff:promoter",
    ]
    assert table["ref_match"].tolist() == [True, False, True, True, True]
    assert not table["contains_unk"].any()  # all windows lie inside the chromosome
    assert table.loc["same", "logit_diff:promoter"] == 0.0
    assert table.loc["same", "ref:promoter"] == table.loc["same", "alt:promoter"]
    # the SNV's windows, built by hand: 149 bases, the allele, 150 bases; scored on the CPU
    model, tokenizer, _ = load_classifier(promoter_model)
    alt = lines[0][4]
    windows = [human[1850:2150], human[1850:1999] + alt + human[2000:2150]]
    ref_score, alt_score = score_sequences(model, tokenizer, windows, batch_size=2, device="cpu")
    assert table.loc["snv", "ref:promoter"] == pytest.approx(ref_score[0], abs=1e-5)
    assert table.loc["snv", "alt:promoter"] == pytest.approx(alt_score[0], abs=1e-5)
    ref_logit, alt_logit = score_logits(model, tokenizer, windows, batch_size=2, device="cpu")
    expected = float(alt_logit[0]) - float(ref_logit[0])
    assert table.loc["snv", "logit_diff:promoter"] == pytest.approx(expected, abs=1e-5)


def test_chromosome_names_with_and_without_chr(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    human = _human(human_genome)
    genome = tmp_path / "chr20.fa"
    genome.write_text(">chr20\n" + "\n".join(human[i : i + 60] for i in range(0, 6000, 60)) + "\n")
    lines = [["20", "1000", "a", human[999], "A"], ["7", "1000", "b", "A", "C"]]
    vcf = _vcf(tmp_path, lines)
    with pytest.raises(GenomixError, match=r"calls.vcf: line 4: chromosome '7' is not in .*chr20"):
        predict_variants(promoter_model, vcf, genome, tmp_path / "out.tsv")
    assert not (tmp_path / "out.tsv").exists()
    skipped: list[str] = []
    predict_variants(
        promoter_model, vcf, genome, tmp_path / "out.tsv", skip_invalid=True, on_skip=skipped.append
    )
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t", dtype={"chrom": str})
    assert table[["chrom", "id", "ref_match"]].values.tolist() == [["20", "a", True]]
    assert len(skipped) == 1 and "chromosome '7'" in skipped[0]


def test_cli_writes_parquet(
    promoter_model: Path, human_genome: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    human = _human(human_genome)
    vcf = _vcf(tmp_path, [["z", "100", "x", human[99], "A,C,G,T"]])
    out = tmp_path / "effects.parquet"
    args = ["predict-variants", str(vcf), "--genome", str(human_genome), "--model"]
    assert main([*args, str(promoter_model), "-o", str(out), "--device", "cpu"]) == 0
    table = pd.read_parquet(out)
    assert table["alt"].tolist() == ["A", "C", "G", "T"]
    assert table["ref_match"].dtype == bool and table["ref_match"].all()
    assert table["ref:promoter"].dtype == np.float32
    assert (table["logit_diff:promoter"] == 0).tolist() == [b == human[99] for b in "ACGT"]
    missing = main([*args, str(promoter_model), "-o", str(out), "--genome", str(tmp_path / "no")])
    assert missing == 1
    assert capsys.readouterr().err.strip().endswith(f"{tmp_path / 'no'}: no such FASTA file")


def test_logit_diff_of_confident_scores_is_not_clipped(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    # Shift every logit by +30: sigmoid rounds both probabilities to 1.0 in float32, so a change
    # taken from probabilities would be 0; it must be the difference of the model's logits.
    confident = tmp_path / "confident"
    shutil.copytree(promoter_model, confident)
    model, tokenizer, _ = load_classifier(confident)
    with torch.no_grad():
        model.head.linear.bias += 30.0
    safetensors.torch.save_model(model, str(confident / "model.safetensors"))
    write_checksums(confident, ["model.safetensors"])  # an intended edit: record it
    human = _human(human_genome)
    alt = "ACGT".replace(human[1999], "")[0]
    out = tmp_path / "effects.tsv"
    vcf = _vcf(tmp_path, [["z", "2000", "snv", human[1999], alt]])
    predict_variants(confident, vcf, human_genome, out, device="cpu")
    row = pd.read_csv(out, sep="\t").iloc[0]
    windows = [human[1850:2150], human[1850:1999] + alt + human[2000:2150]]
    tokens, padding = encode_sequences(tokenizer, windows, max_tokens=1024)
    with torch.no_grad():
        ref_logit, alt_logit = model.eval()(tokens, padding)[:, 0].double().tolist()
    assert ref_logit > 20 and alt_logit > 20 and alt_logit != ref_logit
    assert row["ref:promoter"] == row["alt:promoter"] == 1.0
    assert row["logit_diff:promoter"] == pytest.approx(alt_logit - ref_logit, abs=1e-5)


def test_ref_mismatches_warn_then_stop_above_a_tenth(
    promoter_model: Path, human_genome: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: with every REF wrong (another assembly) only the ref_match column said so."""
    human = _human(human_genome)
    right = [
        ["z", str(p), f"ok{p}", human[p - 1], "ACGT".replace(human[p - 1], "")[0]]
        for p in range(2000, 2020)
    ]
    wrong = [["z", "3000", "bad", "ACGT".replace(human[2999], "")[0], human[2999]]]
    out = tmp_path / "effects.tsv"
    with caplog.at_level("WARNING", logger="genomix.variants"):
        assert (
            predict_variants(promoter_model, _vcf(tmp_path, right + wrong), human_genome, out) == 21
        )
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{tmp_path / 'calls.vcf'}: 1 of 21 REF alleles differ from the genome (ref_match false)"
    ]
    out.write_text("previous\n")
    vcf = _vcf(tmp_path, right[:5] + wrong)  # 1 of 6: above a tenth
    with pytest.raises(GenomixError, match="1 of 6 REF alleles differ .*--allow-ref-mismatch"):
        predict_variants(promoter_model, vcf, human_genome, out)
    assert out.read_text() == "previous\n"
    argv = ["predict-variants", str(vcf), "--genome", str(human_genome), "--model"]
    argv += [str(promoter_model), "-o", str(out), "--allow-ref-mismatch"]
    assert main(argv) == 0
    assert pd.read_csv(out, sep="\t")["ref_match"].tolist() == [True] * 5 + [False]
