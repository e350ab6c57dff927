"""The `genomix` command line: help, the error path (one line, exit 1, no traceback)."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import PROMOTERS

from genomix.cli import main

STAGES = [
    "fetch",
    "tokenize",
    "labels",
    "promoters",
    "pretrain",
    "finetune",
    "evaluate",
    "predict",
    "predict-variants",
    "report",
    "sweep-table",
]


def test_help_lists_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(stage in text for stage in STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_help_with_an_example(
    stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([stage, "--help"])
    assert "example:" in capsys.readouterr().out


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genomix.cli", *args], capture_output=True, text=True, check=False
    )


def test_malformed_fasta_to_predict_is_one_line(promoter_model: Path, tmp_path: Path) -> None:
    fasta = tmp_path / "broken.fa"
    fasta.write_text("this is not a FASTA file\n")
    result = _run("predict", str(promoter_model), str(fasta), "-o", str(tmp_path / "out.tsv"))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "genomix: error:" in line]
    assert len(errors) == 1 and "broken.fa" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_missing_model_directory(tmp_path: Path) -> None:
    result = _run("predict", str(tmp_path / "nope"), str(tmp_path / "x.fa"), "-o", "out.tsv")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("not a genomix model directory (no config.json)")


def test_bad_flag_value_names_the_key(tmp_path: Path) -> None:
    result = _run("tokenize", str(tmp_path / "g.fa"), "-o", str(tmp_path / "t.npy"), "--k", "9")
    assert result.returncode == 1
    assert "tokenize.k: 9 is greater than the maximum of 8" in result.stderr


def test_architecture_flags_conflict_with_pretrained(tmp_path: Path) -> None:
    result = _run(
        "finetune",
        "--task",
        "promoter",
        "--table",
        str(PROMOTERS),
        "--pretrained",
        str(tmp_path / "pretrained"),
        "--out",
        str(tmp_path / "m"),
        "--d-model",
        "32",
    )
    assert result.returncode == 1
    assert "--d-model sets the architecture" in result.stderr


def test_finetune_evaluate_predict_through_the_cli(promoter_model: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.tsv"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(promoter_model),
                "--table",
                str(PROMOTERS),
                "--out",
                str(metrics),
                "--max-rows",
                "64",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    table = pd.read_csv(metrics, sep="\t")
    assert table["profile"].tolist() == ["promoter", "mean", "median"]
    assert {"auroc", "auprc", "n_pos", "n_neg", "f1", "mcc", "accuracy"} <= set(table.columns)
    assert table["n_pos"].iloc[0] + table["n_neg"].iloc[0] == 64


def test_evaluate_reuses_the_fine_tuning_split(promoter_table, tmp_path: Path) -> None:
    from conftest import TINY_MODEL

    from genomix.config import FinetuneConfig, TokenizeConfig
    from genomix.finetune import finetune

    config = FinetuneConfig(epochs=1, max_train_rows=32, max_eval_rows=32, seed=3, device="cpu")
    model = finetune(
        promoter_table,
        tmp_path / "m",
        task="promoter",
        config=config,
        model_config=TINY_MODEL,
        tokenize_config=TokenizeConfig(k=3, stride=1),
        progress=False,
    )
    outputs = {}
    for name, seed in (("default", []), ("three", ["--seed", "3"]), ("zero", ["--seed", "0"])):
        outputs[name] = tmp_path / f"{name}.tsv"
        assert (
            main(
                [
                    "evaluate",
                    "--model",
                    str(model),
                    "--table",
                    str(PROMOTERS),
                    "--out",
                    str(outputs[name]),
                    "--device",
                    "cpu",
                    *seed,
                ]
            )
            == 0
        )
    assert outputs["default"].read_text() == outputs["three"].read_text()
    assert outputs["default"].read_text() != outputs["zero"].read_text()


def test_version_and_verbosity_anywhere(capsys: pytest.CaptureFixture) -> None:
    from genomix import __version__
    from genomix.cli import build_parser

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out == f"genomix {__version__}\n"
    parser = build_parser()
    for argv, expected in (
        (["-v", "report"], (True, False)),
        (["report", "-v"], (True, False)),
        (["report", "-q"], (False, True)),
        (["-q", "report"], (False, True)),
        (["report"], (False, False)),
    ):
        args = parser.parse_args([*argv, "--heads", "c=multilabel", "--metrics", "c=c.tsv",
                                  "--pretrain-metrics", "m", "-o", "r.md"])  # fmt: skip
        assert (args.verbose, args.quiet) == expected, argv
    assert main(["-v", "report", "-q", "--heads", "c=multilabel", "--metrics", "c=c.tsv",
                 "--pretrain-metrics", "m", "-o", "r.md"]) == 1  # fmt: skip
    assert "contradict" in capsys.readouterr().err


def test_stdin_and_stdout_with_gzip_sniffed_from_the_stream(
    promoter_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    fasta = ">a\n" + "ACGTTGCA" * 40 + "\n>b\n" + "TTGACCGA" * 40 + "\n"
    (tmp_path / "in.fa").write_text(fasta)
    assert main(["predict", str(promoter_model), str(tmp_path / "in.fa"),
                 "-o", str(tmp_path / "file.tsv")]) == 0  # fmt: skip
    expected = (tmp_path / "file.tsv").read_text()
    capsys.readouterr()
    for data in (fasta.encode(), gzip.compress(fasta.encode())):
        stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
        monkeypatch.setattr(sys, "stdin", stdin)
        assert main(["predict", str(promoter_model), "-", "-o", "-"]) == 0
        assert capsys.readouterr().out == expected
    assert not (tmp_path / "-").exists() and not Path("-").exists()
    assert len(pd.read_csv(io.StringIO(expected), sep="\t")) == 2


def test_tab_completion_lists_subcommands_and_flags(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    answer = tmp_path / "completions"
    for line, expected in (
        ("genomix predict-v", {"predict-variants"}),
        ("genomix predict-variants x.vcf --reg", {"--region"}),
    ):
        # What the shell hook sets; a separate process, since argcomplete takes over its fds.
        env = {
            **os.environ,
            "_ARGCOMPLETE": "1",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
        }
        result = subprocess.run(
            [sys.executable, "-m", "genomix.cli"], env=env, capture_output=True, check=False
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert {word.strip() for word in answer.read_text().split("\v")} == expected
