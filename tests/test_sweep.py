"""genomix.sweep: the variants a sweep config plans, and the table gathered from fake results."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from genomix.cli import main
from genomix.errors import GenomixError
from genomix.sweep import context_gain, plan_variants, sweep_table, variant_config
from genomix.sweep_report import context_verdict, table_markdown

CONFIG = {
    "run": "sw",
    "tokenize": {"k": 6, "stride": 1},
    "model": {
        "attention": {"name": "bigbird", "block_size": 32},
        "d_model": 64,
        "max_tokens": 1024,
    },
    "pretrain": {"steps": 100},
    "heads": {
        "promoter": {"task": "binary", "table": "p.tsv"},
        "chromatin": {
            "task": "multilabel",
            "bin_size": 200,
            "flank": 400,
            "peaks": {"CTCF": "ctcf.bed"},
        },
    },
    "sweep": {
        "attention": ["dense", "bigbird"],
        "flanks": [100, 400, 800],
        "flank_attention": ["bigbird"],
    },
}


def test_plan_names_sizes_and_heads() -> None:
    plan = plan_variants(CONFIG)
    assert [v.name for v in plan] == [
        "dense_flank400",
        "bigbird_flank400",
        "bigbird_flank100",  # flank 400 is config.yaml's: not planned twice
        "bigbird_flank800",
    ]
    # [CLS] + (200 + 2 * flank - 6) + 1 six-mers
    assert [v.max_tokens for v in plan] == [996, 996, 396, 1796]
    assert {v.margin for v in plan} == {800}  # every variant labels the 1.8-kb bins
    assert [v.heads for v in plan] == [("promoter", "chromatin")] * 2 + [("chromatin",)] * 2


def test_plan_follows_the_tokenizer() -> None:
    config = {**CONFIG, "tokenize": {"k": 3, "stride": 3}}
    # 1,000 bases in 3-mers every 3 bases: (1000 - 3) // 3 + 1 = 333 tokens, + [CLS]
    assert plan_variants(config)[0].max_tokens == 334


def test_flank_kind_must_be_swept() -> None:
    config = {**CONFIG, "sweep": {"attention": ["dense"], "flank_attention": ["fixed"]}}
    with pytest.raises(GenomixError, match="sweep.flank_attention: fixed not in sweep.attention"):
        plan_variants(config)


def test_variant_config_overrides_only_what_the_sweep_varies() -> None:
    variant = plan_variants(CONFIG)[3]
    config = variant_config(CONFIG, variant)
    assert "sweep" not in config and config["run"] == "sw/bigbird_flank800"
    bigbird = {"name": "bigbird", "block_size": 32}  # config.yaml's options of the variant's kind
    assert config["model"] == {"attention": bigbird, "d_model": 64, "max_tokens": 1796}
    dense = variant_config(CONFIG, plan_variants(CONFIG)[0])
    assert dense["model"]["attention"] == {"name": "dense"}  # not BigBird's options
    assert config["heads"]["promoter"] == {"task": "binary", "table": "p.tsv"}
    assert config["heads"]["chromatin"] == {
        "task": "multilabel",
        "bin_size": 200,
        "flank": 800,
        "margin": 800,
        "peaks": {"CTCF": "ctcf.bed"},
    }
    assert config["pretrain"] == {"steps": 100}
    config["heads"]["chromatin"]["peaks"]["CTCF"] = "other.bed"
    assert CONFIG["heads"]["chromatin"]["peaks"] == {"CTCF": "ctcf.bed"}  # a copy, not shared
    assert CONFIG["model"]["max_tokens"] == 1024  # the sweep's own config is untouched


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _benchmark(path: Path, seconds: float, rss: float) -> None:
    _write(path, f"s\th:m:s\tmax_rss\tmax_vms\n{seconds}\t0:00:00\t{rss}\t9999\n")


def _predictions(path: Path, window: int, rows: dict[int, tuple[int, float]]) -> None:
    """A chromatin predictions table: per bin (window centre x 2 -> (label, probability)) of
    profile A, and an all-negative profile B that no AUROC can use."""
    lines = ["id\tprofile\tlabel\ttransformer\tkmer_lr"]
    for centre2, (label, probability) in rows.items():
        start = (centre2 - window) // 2
        identifier = f"seg:{start}-{start + window}"
        lines += [f"{identifier}\tA\t{label}\t{probability}\t0.5"]
        lines += [f"{identifier}\tB\t0\t{probability}\t0.5"]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())


# Four bins, the positives first: the longer context ranks them perfectly (AUROC 1), the
# shorter one half right (0.9 and 0.1 against 0.8 and 0.2: AUROC 0.5).
LONGER = {2000: (1, 0.9), 2400: (0, 0.1), 2800: (1, 0.8), 3200: (0, 0.2), 9000: (1, 0.7)}
SHORTER = {2000: (1, 0.9), 2400: (0, 0.8), 2800: (1, 0.1), 3200: (0, 0.2)}


def _fake_variant(
    root: Path,
    name: str,
    attention: str,
    *,
    promoter: bool,
    window: int,
    predictions: dict[int, tuple[int, float]] = SHORTER,
) -> None:
    """What one variant leaves behind, with round numbers to find again in the table."""
    folder, times = root / "results" / name, root / "benchmarks" / name
    _predictions(folder / "chromatin_predictions.tsv.gz", window, predictions)
    _write(
        folder / "pretrain" / "config.json",
        json.dumps({"model": {"attention": attention, "max_tokens": window - 4}}),
    )
    _write(
        folder / "pretrain" / "metrics.csv",
        "step,train_loss,valid_loss,valid_unigram_loss,valid_neighbour_loss,tokens_per_s\n"
        "50,8.3,8.2,8.05,4.2,1000\n"
        "100,7.9,7.5,8.05,4.2,1200\n",
    )
    _benchmark(times / "pretrain.tsv", 60.5, 2000.0)
    _write(folder / "chromatin" / "config.json", json.dumps({"window_bases": window}))
    _write(
        folder / "chromatin_metrics.tsv",
        "profile\tauroc\tauprc\tauroc_lo\tauroc_hi\tauroc_kmer_lr\tdelta_auroc_kmer_lr\n"
        "A\t0.6\t0.1\t0.5\t0.7\t0.55\t0.05\n"
        "B\t0.8\t0.2\t0.7\t0.9\t0.65\t0.15\n"
        "mean\t0.7\t0.15\t0.62\t0.78\t0.6\t0.1\n"
        "median\t0.7\t0.15\t0.62\t0.78\t0.6\t0.1\n",
    )
    _benchmark(times / "finetune_chromatin.tsv", 30.25, 1500.0)
    if promoter:
        _write(
            folder / "promoter_metrics.tsv",
            "profile\tauroc\tauprc\tauroc_lo\tauroc_hi\n"
            "promoter\t0.81\t0.8\t0.75\t0.86\n"
            "mean\t0.81\t0.8\t0.75\t0.86\n",
        )
        _benchmark(times / "finetune_promoter.tsv", 20.0, 1200.0)


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    _fake_variant(tmp_path, "dense_flank400", "dense", promoter=True, window=1000)
    _fake_variant(tmp_path, "bigbird_flank400", "bigbird", promoter=True, window=1000)
    _fake_variant(
        tmp_path, "bigbird_flank800", "bigbird", promoter=False, window=1800, predictions=LONGER
    )
    names = ["dense_flank400", "bigbird_flank400", "bigbird_flank800"]
    return [tmp_path / "results" / n for n in names], [tmp_path / "benchmarks" / n for n in names]


def test_table_holds_each_variants_known_values(sweep: tuple[list[Path], list[Path]]) -> None:
    table = sweep_table(*sweep).set_index("variant")
    dense, bigbird = table.loc["dense_flank400"], table.loc["bigbird_flank800"]
    assert (dense["attention"], dense["max_tokens"], dense["context_bp"]) == ("dense", 996, 1000)
    assert bigbird["context_bp"] == 1800
    # the last validation of pretraining, beside its references
    assert (dense["mlm_loss"], dense["mlm_unigram_loss"], dense["mlm_neighbour_loss"]) == (
        7.5,
        8.05,
        4.2,
    )
    assert dense["pretrain_tokens_per_s"] == 1200
    # chromatin: the `mean` row, with its interval and the baseline, not the delta columns
    assert (dense["chromatin_auroc"], dense["chromatin_auroc_lo"]) == (0.7, 0.62)
    assert dense["chromatin_auroc_kmer_lr"] == 0.6
    assert not any(c.startswith("chromatin_delta") for c in table.columns)
    assert (dense["promoter_auroc"], dense["promoter_auroc_hi"]) == (0.81, 0.86)
    assert math.isnan(bigbird["promoter_auroc"]) and math.isnan(bigbird["promoter_s"])
    assert (dense["pretrain_s"], dense["pretrain_max_rss_mb"]) == (60.5, 2000.0)
    assert (dense["promoter_s"], dense["chromatin_s"], dense["chromatin_max_rss_mb"]) == (
        20.0,
        30.25,
        1500.0,
    )
    markdown = table_markdown(table.reset_index())
    assert "| dense_flank400 " in markdown and "0.700 [0.620, 0.780]" in markdown
    assert "20.0, 30.2" in markdown and "-, 30.2" in markdown  # bigbird: no promoter head


def test_cli_writes_table_markdown_and_plot(
    sweep: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    folders, benchmarks = sweep
    out = tmp_path / "out"
    argv = ["sweep-table", *map(str, folders), "--benchmarks", *map(str, benchmarks)]
    argv += ["--tsv", str(out / "s.tsv"), "--markdown", str(out / "s.md")]
    assert main([*argv, "--plot", str(out / "s.png")]) == 0
    table = pd.read_csv(out / "s.tsv", sep="\t")
    assert table["variant"].tolist() == ["dense_flank400", "bigbird_flank400", "bigbird_flank800"]
    assert table["chromatin_auroc"].tolist() == [0.7, 0.7, 0.7]
    assert table["context_gain"].iloc[2] == 0.5
    assert "bigbird, 1800 bp against 1000 bp" in (out / "s.md").read_text()
    assert (out / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_and_mismatched_inputs_are_named(
    sweep: tuple[list[Path], list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folders, benchmarks = sweep
    with pytest.raises(GenomixError, match="3 variant folders but 1 benchmark folders"):
        sweep_table(folders, benchmarks[:1])
    (benchmarks[2] / "finetune_chromatin.tsv").unlink()
    with pytest.raises(GenomixError, match="bigbird_flank800/finetune_chromatin.tsv: file not"):
        sweep_table(folders, benchmarks)
    (folders[0] / "pretrain" / "metrics.csv").write_text("")
    argv = ["sweep-table", str(folders[0]), "--benchmarks", str(benchmarks[0])]
    out = {suffix: str(tmp_path / f"t.{suffix}") for suffix in ("tsv", "md", "png")}
    assert main([*argv, "--tsv", out["tsv"], "--markdown", out["md"], "--plot", out["png"]]) == 1
    assert "metrics.csv: not a readable table" in capsys.readouterr().err
    assert not any(Path(path).exists() for path in out.values())


def test_context_gain_is_paired_on_common_bins(tmp_path: Path) -> None:
    longer, shorter = tmp_path / "long.tsv", tmp_path / "short.tsv"
    _predictions(longer, 1800, LONGER)  # one more bin than the shorter context scored
    _predictions(shorter, 400, SHORTER)
    gain = context_gain(longer, shorter)
    assert gain["context_gain"] == 0.5 and gain["context_rows"] == 4  # profile B: no AUROC
    assert math.isnan(gain["context_gain_lo"])
    drawn = context_gain(longer, shorter, bootstrap=200, seed=0)
    assert drawn["context_gain"] == 0.5
    assert -1 <= drawn["context_gain_lo"] <= 0.5 <= drawn["context_gain_hi"] <= 1
    assert context_gain(longer, shorter, bootstrap=200, seed=0) == drawn  # seeded
    _predictions(shorter, 400, {**SHORTER, 2400: (1, 0.8)})
    with pytest.raises(GenomixError, match="a bin has other labels in each"):
        context_gain(longer, shorter)
    _predictions(shorter, 400, {4000: (1, 0.5)})
    with pytest.raises(GenomixError, match="no test bins in common"):
        context_gain(longer, shorter)


def test_verdict_says_whether_longer_context_helped(
    sweep: tuple[list[Path], list[Path]],
) -> None:
    table = sweep_table(*sweep, bootstrap=100, seed=1)
    row = table.set_index("variant").loc["bigbird_flank800"]
    assert row["context_reference"] == "bigbird_flank400" and row["context_gain"] == 0.5
    verdict = context_verdict(table)
    assert verdict.startswith("- bigbird, 1800 bp against 1000 bp: chromatin mean AUROC 0.700")
    assert "paired difference +0.500 on 4 common test bins (95% interval" in verdict
    assert "dense" not in verdict  # one context only: nothing to compare
    assert "+0.500 [" in table_markdown(table)
    assert "no context comparison" in context_verdict(table.drop(columns="context_gain"))
