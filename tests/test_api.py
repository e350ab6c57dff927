"""The Python API (`genomix.load_model`, `genomix.predict_variants`) gives the CLI's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genomix
from genomix.cli import main
from genomix.errors import GenomixError
from genomix.seqio.genome import open_genome


def _human(human_genome: Path) -> str:
    return str(open_genome(human_genome)["z"][:]).upper()


def test_predict_equals_the_cli(promoter_model: Path, human_genome: Path, tmp_path: Path) -> None:
    human = _human(human_genome)
    sequences = {"a": human[2000:2700], "b": human[9000:9300], "c": human[100:350].lower()}
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in sequences.items()))
    model = genomix.load_model(promoter_model, device="cpu")
    assert model.profiles == ["promoter"] and model.window_bases == 300
    for flags, kwargs in (([], {}), (["--per-window"], {"per_window": True})):
        out = tmp_path / "cli.parquet"
        assert main(["predict", str(promoter_model), str(fasta), "-o", str(out), *flags]) == 0
        pd.testing.assert_frame_equal(model.predict(sequences, **kwargs), pd.read_parquet(out))
    as_list = model.predict(list(sequences.values()))
    assert as_list["id"].tolist() == ["0", "1", "2"]
    np.testing.assert_array_equal(as_list["promoter"], model.predict(sequences)["promoter"])


def test_predict_regions_equals_the_cli_bed(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    regions = pd.DataFrame(
        {"chrom": ["z", "z"], "start": [1000, 4000], "end": [1500, 4300], "strand": ["+", "-"]}
    )
    bed = tmp_path / "r.bed"
    bed.write_text("z\t1000\t1500\t.\t0\t+\nz\t4000\t4300\t.\t0\t-\n")
    out = tmp_path / "cli.parquet"
    argv = ["predict", str(promoter_model), "--bed", str(bed), "--genome", str(human_genome)]
    assert main([*argv, "-o", str(out)]) == 0
    frame = genomix.load_model(promoter_model).predict_regions(regions, human_genome)
    pd.testing.assert_frame_equal(frame, pd.read_parquet(out))
    assert frame[["chrom", "start", "end", "strand"]].values.tolist() == [
        ["z", 1000, 1500, "+"],
        ["z", 4000, 4300, "-"],
    ]


def test_predict_variants_equals_the_cli(
    promoter_model: Path, human_genome: Path, tmp_path: Path
) -> None:
    human = _human(human_genome)
    other = "ACGT".replace(human[1999], "")[0]
    frame = pd.DataFrame(
        {
            "chrom": ["z", "z"],
            "pos": [2000, 5],  # the second window runs past the chromosome's start: N
            "id": ["snv", "edge"],
            "ref": [human[1999], human[4]],
            "alt": [other, "A,C"],
        }
    )
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
        f"z\t2000\tsnv\t{human[1999]}\t{other}\nz\t5\tedge\t{human[4]}\tA,C\n"
    )
    out = tmp_path / "effects.parquet"
    argv = ["predict-variants", str(vcf), "--genome", str(human_genome)]
    assert main([*argv, "--model", str(promoter_model), "-o", str(out)]) == 0
    from_cli = pd.read_parquet(out)
    model = genomix.load_model(promoter_model)
    from_frame = genomix.predict_variants(frame, human_genome, model)
    from_vcf = genomix.predict_variants(vcf, human_genome, promoter_model)
    assert from_frame["contains_unk"].tolist() == [False, True, True]
    assert from_frame["alt"].tolist() == [other, "A", "C"]
    floats = [c for c in from_cli.columns if ":" in c]
    for table in (from_frame, from_vcf):
        pd.testing.assert_frame_equal(
            table.drop(columns=floats), from_cli.drop(columns=floats), check_dtype=False
        )
        np.testing.assert_allclose(table[floats], from_cli[floats], rtol=0, atol=1e-6)


def test_api_errors_are_genomix_errors(promoter_model: Path, human_genome: Path) -> None:
    model = genomix.load_model(promoter_model)
    with pytest.raises(GenomixError, match="not one string"):
        model.predict("ACGT")
    with pytest.raises(GenomixError, match="sequence 'x' position 3: invalid character"):
        model.predict({"x": "ACZT"})
    with pytest.raises(GenomixError, match="lack column"):
        model.predict_regions(pd.DataFrame({"chrom": ["z"]}), human_genome)
    with pytest.raises(GenomixError, match="variants row 0: REF"):
        genomix.predict_variants(
            pd.DataFrame({"chrom": ["z"], "pos": [3], "ref": ["Q"], "alt": ["A"]}),
            human_genome,
            model,
        )
