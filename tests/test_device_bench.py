"""bench/device.py, the GPU check, runs on the CPU (--dry-run) so that it cannot rot before the
next GPU window: every case gives a row, errors stay in their row, the time guard holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT

# Not installed on the GPU machine: the bench must run without them.
ABSENT_ON_GPU = ("jsonschema", "Bio", "pyfaidx", "snakemake", "sklearn", "transformers")


@pytest.fixture(scope="module")
def device_bench(tmp_path_factory: pytest.TempPathFactory):
    """bench.device, importable (the repository root on sys.path, as PYTHONPATH=. gives)."""
    sys.path.insert(0, str(ROOT))
    try:
        import bench.device

        yield bench.device
    finally:
        sys.path.remove(str(ROOT))


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The table of `bash bench/device.sh --dry-run`, with the packages the GPU lacks hidden."""
    tmp = tmp_path_factory.mktemp("device")
    hidden = tmp / "hidden"
    hidden.mkdir()
    for name in ABSENT_ON_GPU:  # shadow each package with a module that fails to import
        (hidden / f"{name}.py").write_text(f"raise ImportError('{name} is not on the GPU')\n")
    env = {
        **os.environ,
        "PYTHONPATH": f"{hidden}{os.pathsep}{ROOT}",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    out = tmp / "device.md"
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "device.sh"), "--dry-run", "--out", str(out)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = out.read_text()
    assert table.splitlines()[-1] in done.stdout  # stdout shows the same rows
    return table


def _rows(table: str) -> dict[tuple[str, str], list[str]]:
    rows = [line.strip("|").split(" | ") for line in table.splitlines() if line.startswith("| ")]
    return {(cells[0].strip(), cells[1].strip()): cells for cells in rows[1:]}


def test_dry_run_measures_every_case_without_the_workflow_packages(dry_run: str) -> None:
    rows = _rows(dry_run)
    expected = {
        ("train", "bigbird B=2"),
        ("train", "dense B=2"),
        *(
            ("attention", f"{impl} L={length}")
            for impl in ("bigbird", "flex", "sdpa")
            for length in (256, 512)
        ),
        ("ddp", "bigbird B=1"),
        ("train", "dense B=2 compiled"),
        ("train", "bigbird B=2 compiled"),
    }
    assert set(rows) == expected
    for key, cells in rows.items():
        assert "error" not in cells[-1], (key, cells[-1])
        assert float(cells[3]) > 0, key  # ms
        assert float(cells[5]) > 0, key  # TFLOP/s
    assert "gloo, world size 1: all-reduce ok" in rows["ddp", "bigbird B=1"][-1]
    assert "x eager" in rows["train", "dense B=2 compiled"][-1]


def test_dry_run_flex_has_the_bigbird_pattern(dry_run: str) -> None:
    rows = _rows(dry_run)
    for length in (256, 512):
        note = rows["attention", f"flex L={length}"][-1]
        difference = float(re.search(r"max abs diff vs bigbird (\S+)", note).group(1))
        assert difference < 1e-5, note
    # Same pattern, same scored pairs: the FLOPs per token agree for BigBird and Flex.
    bigbird, flex = rows["attention", "bigbird L=512"], rows["attention", "flex L=512"]
    flops = [float(r[5]) * float(r[3]) / (12 if r is bigbird else 4) for r in (bigbird, flex)]
    assert flops[0] == pytest.approx(flops[1], rel=0.02)


def test_flex_mask_with_coarser_blocks_is_the_same_attention(device_bench) -> None:
    from torch.nn.attention.flex_attention import flex_attention

    from genomix.attention import build_attention
    from genomix.attention.masks import bigbird_block_mask

    attention = build_attention(
        "bigbird", {"block_size": 16, "global_blocks": 1, "random_blocks": 2}, 32, 2
    )
    table = bigbird_block_mask(
        8, global_blocks=1, window_blocks=3, random_table=attention.fixed_random_table(8)
    )
    q, k, v = torch.randn(3, 1, 2, 128, 16, generator=torch.Generator().manual_seed(0))
    expected = attention.attend(q, k, v)
    for sparse_block in ((16, 16), (32, 16), (32, 64)):  # full blocks only, then partial ones
        mask = device_bench.flex_block_mask(table, 16, sparse_block, torch.device("cpu"))
        torch.testing.assert_close(flex_attention(q, k, v, block_mask=mask), expected)


def test_a_failing_case_is_reported_in_its_row(device_bench) -> None:
    def fail():
        raise ValueError("no such kernel\nsecond line")

    row = device_bench.run_case(fail, "attention", "flex L=4", 60.0)
    assert row.note == "error: ValueError: no such kernel"
    assert row.cells(989.0)[2:8] == [""] * 6


def test_time_guard_interrupts_and_skips(device_bench) -> None:
    start = time.monotonic()
    row = device_bench.run_case(lambda: time.sleep(30), "train", "slow", 0.2)
    assert time.monotonic() - start < 5
    assert row.note.startswith("error: CaseTimeout: interrupted: --time-limit reached")
    skipped = device_bench.run_case(lambda: pytest.fail("must not run"), "train", "late", 0.0)
    assert skipped.note == "skipped: --time-limit reached"


def test_checks_select_the_cases(device_bench) -> None:
    args = device_bench.parse_args(["--dry-run", "--out", "x.md", "--checks", "compile", "ddp"])
    bench = device_bench.Bench(args, torch.device("cpu"), torch.float32, {})
    assert [name for _, name, _ in device_bench.cases(bench)] == [
        "bigbird B=1",
        "dense B=2 compiled",
        "bigbird B=2 compiled",
    ]


def test_bench_imports_nothing_the_gpu_machine_lacks(tmp_path: Path) -> None:
    code = (
        "import sys, bench.device; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ABSENT_ON_GPU!r}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
