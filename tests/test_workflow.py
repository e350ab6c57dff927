"""The Snakemake workflow: lint, dry runs, config validation, and one tiny end-to-end run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake")


def _snakemake(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--cores", "2", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_lint_is_clean() -> None:
    result = _snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_dry_run_plans_every_stage(tmp_path: Path) -> None:
    result = _snakemake("-n", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for rule in (
        "fetch",
        "tokenize",
        "pretrain",
        "chromatin_labels",
        "finetune_promoter",
        "finetune_chromatin",
        "evaluate_chromatin",
        "evaluate_promoter",
        "report",
    ):
        assert rule in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokenize": {"k": "six"}}, "'six' is not of type 'integer'"),
        ({"pretrain": {"stepz": 10}}, "'stepz' was unexpected"),
        ({"model": {"attention": "linformer"}}, "'linformer' is not one of"),
    ],
)
def test_bad_config_fails_naming_the_key(tmp_path: Path, change: dict, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(change))
    result = _snakemake("-n", "--configfile", str(config), "--directory", str(tmp_path))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.mark.slow
def test_smoke_run_end_to_end_then_nothing_to_do(tmp_path: Path) -> None:
    smoke = str(ROOT / "tests" / "smoke.yaml")
    result = _snakemake("--configfile", smoke, "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    chromatin = pd.read_csv(tmp_path / "results/smoke/chromatin_auroc.tsv", sep="\t")
    assert chromatin["profile"].tolist()[:8] == [
        "BEAF_Kc",
        "BEAF_Mbn2",
        "CTCF_Kc",
        "CTCF_Mbn2",
        "Cp190_Kc",
        "Cp190_Mbn2",
        "SuHw_Kc",
        "SuHw_Mbn2",
    ]
    assert chromatin["profile"].tolist()[8:] == ["mean", "median"]
    promoter = pd.read_csv(tmp_path / "results/smoke/promoter_metrics.tsv", sep="\t")
    assert {"auroc", "auprc", "f1", "mcc", "accuracy"} <= set(promoter.columns)
    report = (tmp_path / "results/smoke/report.md").read_text()
    assert "Chromatin profiles" in report and "report_chromatin_auroc.png" in report
    assert (tmp_path / "results/smoke/report_chromatin_auroc.png").stat().st_size > 1000
    again = _snakemake("--configfile", smoke, "--directory", str(tmp_path), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    html = tmp_path / "report.html"
    rendered = _snakemake(
        "--configfile", smoke, "--directory", str(tmp_path), "--report", str(html)
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert html.stat().st_size > 10_000
