"""genomix explain: ISM agrees with predict-variants, known values on a toy model, the gradient
estimate, shapes, coordinates, logos and bad input."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from genomix.attribution import METHODS, gradient, importance, ism, mutant_sequences
from genomix.checkpoint import load_classifier
from genomix.cli import main
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.explain import explain_fasta, top_predicted
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.logos import allele_span, busiest_span, importance_matrix
from genomix.model import Encoder, EncoderConfig
from genomix.seqio.genome import open_genome
from genomix.seqio.regions import AlleleWindow, reverse_complement
from genomix.variants import predict_variants

BASE_INDEX = {base: i for i, base in enumerate("ACGT")}


class KmerSum(nn.Module):
    """Toy classifier: logit 0 = the sum of a weight per 2-mer, w(XY) = 4 x + y (A=0 .. T=3);
    logit 1 = -2 x logit 0. With `rc`, the mean of both strands' sums. Linear in its embedding,
    so the gradient estimate of a base change is exact."""

    def __init__(self, tokenizer: KmerTokenizer, *, rc: bool = False) -> None:
        super().__init__()
        self.tokenizer, self.rc = tokenizer, rc
        self.encoder = nn.Module()
        self.encoder.config = SimpleNamespace(max_tokens=64)
        self.encoder.token_embedding = nn.Embedding(tokenizer.vocab_size, 1)
        weights = torch.zeros(tokenizer.vocab_size, 1)
        weights[tokenizer.n_special :, 0] = torch.arange(4**tokenizer.k, dtype=torch.float32)
        self.encoder.token_embedding.weight.data = weights
        self.head = nn.Module()
        self.head.linear = nn.Linear(1, 2)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        rows = len(tokens)
        if self.rc:
            reverse = self.tokenizer.reverse_complement_tokens(tokens, padding.sum(1) - 1, offset=1)
            tokens = torch.cat((tokens, reverse))
        sums = self.encoder.token_embedding(tokens)[..., 0].sum(1)
        if self.rc:
            sums = (sums[:rows] + sums[rows:]) / 2
        return torch.stack((sums, -2 * sums), dim=1)


def _kmer_sum(sequence: str) -> float:
    return float(sum(4 * BASE_INDEX[a] + BASE_INDEX[b] for a, b in itertools.pairwise(sequence)))


def _attribute(method: str, model: nn.Module, sequence: str) -> tuple[np.ndarray, np.ndarray]:
    tokenizer = KmerTokenizer(2)
    return METHODS[method](
        model, tokenizer, sequence, batch_size=4, device=torch.device("cpu"), pad_to=16
    )


def test_mutants_are_built_on_bases_in_order() -> None:
    assert list(mutant_sequences("AC")) == ["CC", "GC", "TC", "AA", "AG", "AT"]
    assert list(mutant_sequences("ACG", 4, 6)) == ["AGG", "ATG"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_known_values_on_a_toy_model(method: str) -> None:
    # ACG = AC + CG = 1 + 6 = 7; CCG = 5 + 6 = 11 (+4), GCG +8, TCG +12; AAG = 0 + 2 (-5), AGG
    # +5, ATG +10; ACA = 1 + 4 (-2), ACC -1, ACT +1
    reference, diffs = _attribute(method, KmerSum(KmerTokenizer(2)), "ACG")
    expected = np.array([[4, 8, 12], [-5, 5, 10], [-2, -1, 1]], dtype=np.float64)
    np.testing.assert_allclose(reference, [7, -14])
    assert diffs.shape == (3, 3, 2)
    np.testing.assert_allclose(diffs[..., 0], expected, atol=1e-9)
    np.testing.assert_allclose(diffs[..., 1], -2 * expected, atol=1e-9)
    np.testing.assert_allclose(importance(diffs)[:, 0], [-8, -10 / 3, 2 / 3])


def test_both_strands_toy_model_gradient_equals_ism() -> None:
    model = KmerSum(KmerTokenizer(2), rc=True)
    sequence = "GATTACAGGC"
    reference, exact = _attribute("ism", model, sequence)
    _, estimate = _attribute("gradient", model, sequence)

    def score(s: str) -> float:
        return (_kmer_sum(s) + _kmer_sum(reverse_complement(s))) / 2

    by_hand = [score(m) - score(sequence) for m in mutant_sequences(sequence)]
    assert reference[0] == pytest.approx(score(sequence))
    np.testing.assert_allclose(exact[..., 0].ravel(), by_hand, atol=1e-6)
    np.testing.assert_allclose(estimate, exact, atol=1e-5)


def test_gradient_with_an_embedding_that_is_not_nn_embedding() -> None:
    """A factorized embedding (ids -> 2 features -> linear map), as issue 11's may be."""
    model = KmerSum(KmerTokenizer(2))
    table = nn.Embedding(KmerTokenizer(2).vocab_size, 2)
    table.weight.data = torch.cat((model.encoder.token_embedding.weight.data / 2,) * 2, dim=1)
    mix = nn.Linear(2, 1, bias=False)
    mix.weight.data = torch.ones(1, 2)
    model.encoder.token_embedding = nn.Sequential(table, mix)
    _, exact = _attribute("ism", model, "GATTACA")
    _, estimate = _attribute("gradient", model, "GATTACA")
    assert np.abs(exact).max() > 0
    np.testing.assert_allclose(estimate, exact, atol=1e-5)


@pytest.mark.parametrize("rc_average", [False, True])
def test_gradient_counts_the_heads_kmer_bag(rc_average: bool) -> None:
    """A classifier whose logits read only its head's k-mer bag (the encoder's share of the
    linear zeroed) is linear in the bag's table, so the gradient estimate is exact there: it
    equals ISM only if the bag's gradient is counted."""
    tokenizer = KmerTokenizer(2)
    torch.manual_seed(0)
    config = EncoderConfig(d_model=8, n_layers=1, n_heads=2, d_ff=16, max_tokens=16)
    model = SequenceClassifier(
        Encoder(config, tokenizer.vocab_size),
        2,
        pooling="mean",
        rc_average=rc_average,
        tokenizer=tokenizer,
        kmer_bag=True,
    ).eval()
    with torch.no_grad():
        model.head.linear.weight[:, : config.d_model] = 0
    _, exact = _attribute("ism", model, "GATTACA")
    _, estimate = _attribute("gradient", model, "GATTACA")
    assert np.abs(exact).max() > 1e-3
    np.testing.assert_allclose(estimate, exact, atol=1e-5)


def test_gradient_refuses_a_model_without_token_embedding() -> None:
    model = KmerSum(KmerTokenizer(2))
    del model.encoder.token_embedding
    with pytest.raises(GenomixError, match="needs model.encoder.token_embedding; use ism"):
        _attribute("gradient", model, "ACGT")


@pytest.fixture(scope="module")
def both_strands_model(promoter_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny promoter model, set to average both strands as if fine-tuned so."""
    folder = tmp_path_factory.mktemp("rc") / "promoter"
    shutil.copytree(promoter_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["finetune"]["rc_average"] = True
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _vcf(path: Path, rows: list[tuple[str, int, str, str]]) -> Path:
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT"]
    lines += [f"{chrom}\t{pos}\t.\t{ref}\t{alt}" for chrom, pos, ref, alt in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ism_equals_predict_variants(
    both_strands_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    human = str(open_genome(human_genome)["z"][:]).upper()
    # predict-variants centres a 300 bp window on the SNV: 149 bases left of it, 150 right.
    positions = [2000, 3000]  # 1-based VCF positions
    bed = tmp_path / "windows.bed"
    bed.write_text("".join(f"z\t{p - 1 - 149}\t{p - 1 + 151}\tw{p}\n" for p in positions))
    vcf = _vcf(
        tmp_path / "snvs.vcf",
        [("z", p, human[p - 1], alt) for p in positions for alt in "ACGT" if alt != human[p - 1]],
    )
    variants = tmp_path / "variants.parquet"
    assert predict_variants(both_strands_model, vcf, human_genome, variants, device="cpu") == 6
    effects = pd.read_parquet(variants)
    result = explain_fasta(
        both_strands_model, human_genome, tmp_path / "ism.parquet", bed=bed, device="cpu"
    )
    assert (result.records, result.rows) == (2, 2 * 300 * 3)
    table = pd.read_parquet(tmp_path / "ism.parquet")
    centre = table[table["position"] == 149]
    assert (centre["genome_position"] + 1).tolist() == [p for p in positions for _ in range(3)]
    merged = effects.merge(
        centre.assign(pos=centre["genome_position"] + 1), on=["pos", "ref", "alt"]
    )
    assert len(merged) == 6
    np.testing.assert_allclose(
        merged["logit_diff"], merged["logit_diff:promoter"], atol=1e-5, rtol=0
    )
    assert merged["logit_diff"].abs().max() > 0


def test_rows_coordinates_and_formats(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    human = str(open_genome(human_genome)["z"][:]).upper()
    fasta = tmp_path / "reads.fa.gz"
    fasta.write_bytes(gzip.compress(f">a\n{human[500:520]}\n>b\n{human[700:731]}\n".encode()))
    out = tmp_path / "ism.tsv"
    result = explain_fasta(promoter_model, fasta, out, device="cpu")
    assert (result.records, result.rows) == (2, 3 * (20 + 31))
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["id", "position", "ref", "alt", "output", "logit_diff"]
    first = table[table["id"] == "a"]
    assert first["position"].tolist() == [i for i in range(20) for _ in range(3)]
    assert "".join(first["ref"].iloc[::3]) == human[500:520]
    assert (first["ref"] != first["alt"]).all() and set(table["output"]) == {"promoter"}
    # the same bases from the genome, on the minus strand: positions count from the BED end
    bed = tmp_path / "minus.bed"
    bed.write_text("z\t500\t520\tm\t0\t-\n")
    explain_fasta(promoter_model, human_genome, tmp_path / "m.parquet", bed=bed, device="cpu")
    minus = pd.read_parquet(tmp_path / "m.parquet")
    assert list(minus.columns[-3:]) == ["chrom", "genome_position", "strand"]
    assert minus["genome_position"].iloc[::3].tolist() == list(range(519, 499, -1))
    assert "".join(minus["ref"].iloc[::3]) == reverse_complement(human[500:520])


def test_gradient_runs_on_the_real_model(both_strands_model: Path, human_genome: Path) -> None:
    model, tokenizer, metadata = load_classifier(both_strands_model)
    sequence = str(open_genome(human_genome)["z"][1000:1300]).upper()
    pad_to = tokenizer.tokens_for_length(metadata["window_bases"]) + 1
    options = {"batch_size": 64, "device": torch.device("cpu"), "pad_to": pad_to}
    reference, estimate = gradient(model, tokenizer, sequence, **options)
    exact_reference, exact = ism(model, tokenizer, sequence[:300], **options)
    assert estimate.shape == exact.shape == (300, 3, 1)
    np.testing.assert_allclose(reference, exact_reference, atol=1e-5)
    assert np.isfinite(estimate).all() and np.abs(estimate).max() > 0


def test_bad_records(promoter_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fasta = tmp_path / "reads.fa"
    fasta.write_text(">ok\nACGTACGTAC\n>long\n" + "A" * 301 + "\n>unknown\nACGTNACGTA\n")
    out = tmp_path / "ism.tsv"
    with pytest.raises(
        GenomixError, match=r"reads.fa: record 'long' is 301 bp, longer than the max"
    ):
        explain_fasta(promoter_model, fasta, out, device="cpu")
    assert not out.exists()
    skipped: list[str] = []
    explain_fasta(promoter_model, fasta, out, skip_invalid=True, on_skip=skipped.append)
    assert set(pd.read_csv(out, sep="\t")["id"]) == {"ok"}
    assert skipped[1].endswith(
        "record 'unknown' has N (or an IUPAC code) at position 4; "
        "mutagenesis needs A, C, G, T bases"
    )
    args = ["explain", str(promoter_model), str(fasta), "-o", str(tmp_path / "cli.tsv")]
    assert main([*args, "--max-length", "320"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"genomix: error: {fasta}: record 'unknown' has N (or an IUPAC code) at position 4; "
        "mutagenesis needs A, C, G, T bases"
    )
    assert not (tmp_path / "cli.tsv").exists()
    assert main([*args, "--max-length", "322"]) == 1  # 320 tokens less [CLS] hold 321 3-mers
    assert "max length must be 3 to 321 bases" in capsys.readouterr().err


def test_cli_draws_logos(promoter_model: Path, tmp_path: Path) -> None:
    fasta = tmp_path / "reads.fa"
    fasta.write_text(">a\nACGTTATAAAGGCGCGCAT\n>b\nTTTTGGGGCCCCAAAATG\n")
    out = tmp_path / "ism.parquet"
    args = ["explain", str(promoter_model), str(fasta), "-o", str(out), "--logo", "2"]
    assert main([*args, "--method", "gradient", "--logo-width", "10", "--device", "cpu"]) == 0
    logo = tmp_path / "ism.logos" / "promoter.png"
    assert logo.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_parquet(out)) == 3 * (19 + 18)


def test_busiest_span_and_logo_matrix() -> None:
    assert busiest_span(np.array([0.0, 1, -3, 0, 2, 0]), 2) == slice(1, 3)
    assert busiest_span(np.array([1.0, 2]), 5) == slice(0, 2)
    matrix = importance_matrix("GA", np.array([0.5, -1.0]))
    assert matrix.values.tolist() == [[0, 0, 0.5, 0], [-1.0, 0, 0, 0]]
    assert list(matrix.columns) == ["A", "C", "G", "T"]


def test_top_predicted_rows_of_each_profile(tmp_path: Path) -> None:
    table = LabeledTable(
        sequences=["AAAA", "CCCC", "GGGG"],
        labels=np.zeros((3, 2), dtype=np.float32),
        profiles=("x", "y"),
        split=np.array(["test"] * 3),
        ids=["a", "b", "c"],
    )
    predictions = tmp_path / "predictions.tsv"
    rows = [("a", "x", 0.1), ("a", "y", 0.8), ("b", "x", 0.9), ("b", "y", 0.2)]
    rows += [("c", "x", 0.5), ("c", "y", 0.3)]
    pd.DataFrame(rows, columns=["id", "profile", "transformer"]).to_csv(
        predictions, sep="\t", index=False
    )
    assert [r.id for r in top_predicted(table, predictions, top=1)] == ["a", "b"]
    assert [r.sequence for r in top_predicted(table, predictions, top=2)] == [
        "AAAA",
        "CCCC",
        "GGGG",
    ]
    with pytest.raises(GenomixError, match="row id 'a' is not in the table"):
        top_predicted(table.subset(np.array([1, 2])), predictions, top=1)


def test_cli_explains_top_rows_of_a_table(promoter_model: Path, tmp_path: Path) -> None:
    table = tmp_path / "rows.tsv"
    table.write_text(
        "id\tlabel\tsplit\tsequence\nr1\t1\ttest\tACGTACGTTT\nr2\t0\ttest\tGGGCCCAAAT\n"
    )
    predictions = tmp_path / "predictions.tsv"
    predictions.write_text(
        "id\tprofile\tlabel\ttransformer\nr1\tpromoter\t1\t0.2\nr2\tpromoter\t0\t0.7\n"
    )
    out = tmp_path / "top.tsv"
    args = ["explain", str(promoter_model), "--table", str(table), "-o", str(out)]
    assert main([*args, "--predictions", str(predictions), "--device", "cpu"]) == 0
    assert set(pd.read_csv(out, sep="\t")["id"]) == {"r2"}
    assert main(args) == 1  # --table without --predictions


def test_bedgraph_tracks_average_overlapping_regions(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    bed = tmp_path / "regions.bed"
    bed.write_text("z\t500\t520\tm\t0\t-\nz\t510\t530\tp\t0\t+\n")
    out = tmp_path / "ism.parquet"
    result = explain_fasta(
        promoter_model, human_genome, out, bed=bed, device="cpu", tracks=tmp_path / "tracks"
    )
    assert result.tracks == (tmp_path / "tracks" / "promoter.bedGraph",)
    lines = result.tracks[0].read_text().splitlines()
    assert lines[0] == 'track type=bedGraph name="promoter importance"'
    track = pd.DataFrame([line.split("\t") for line in lines[1:]], columns=["c", "s", "e", "v"])
    assert track["s"].astype(int).tolist() == list(range(500, 530))
    assert (track["e"].astype(int) - track["s"].astype(int) == 1).all()
    table = pd.read_parquet(out)
    per_base = -table.groupby(["id", "genome_position"])["logit_diff"].mean()
    expected = per_base.groupby("genome_position").mean()  # 510..519: both regions
    np.testing.assert_allclose(track["v"].astype(float), expected.to_numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(GenomixError, match="genome tracks need BED regions"):
        fasta = tmp_path / "a.fa"
        fasta.write_text(">a\nACGTACGT\n")
        explain_fasta(promoter_model, fasta, tmp_path / "a.tsv", tracks=tmp_path / "t")


def test_variant_windows_explain_ref_and_alt(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    human = str(open_genome(human_genome)["z"][:]).upper()
    alt = "ACGT".replace(human[1999], "")[0]
    vcf = _vcf(tmp_path / "one.vcf", [("z", 2000, human[1999], alt)])
    out = tmp_path / "variant.parquet"
    args = ["explain", str(promoter_model), "--vcf", str(vcf), "--genome", str(human_genome)]
    assert main([*args, "-o", str(out), "--logo", "1", "--device", "cpu"]) == 0
    table = pd.read_parquet(out)
    label = f"z:2000:{human[1999]}>{alt}"
    assert sorted(set(table["id"])) == [f"{label}:alt", f"{label}:ref"]
    ref = table[(table["id"] == f"{label}:ref") & (table["position"] == 149)].set_index("alt")
    back = table[(table["id"] == f"{label}:alt") & (table["position"] == 149)].set_index("alt")
    assert ref["ref"].iloc[0] == human[1999] and back["ref"].iloc[0] == alt
    # changing the alternative window's allele back to the reference undoes the variant
    assert back.loc[human[1999], "logit_diff"] == pytest.approx(
        -ref.loc[alt, "logit_diff"], abs=1e-5
    )
    logo = tmp_path / "variant.logos" / "promoter.png"
    assert logo.read_bytes()[:4] == b"\x89PNG"
    assert main([*args[:3], str(vcf), "-o", str(tmp_path / "x.tsv")]) == 1  # --vcf without --genome


def test_allele_span_centres_on_the_allele() -> None:
    window = AlleleWindow(id="v:ref", sequence="A" * 300, allele_start=149, allele_length=1)
    assert allele_span(window, 60) == slice(119, 179)
    edge = AlleleWindow(id="v:ref", sequence="A" * 300, allele_start=295, allele_length=3)
    assert allele_span(edge, 60) == slice(240, 300)
