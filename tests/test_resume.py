"""Pretraining checkpoints: a killed run resumes to bit-identical weights; bad states refused."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import safetensors.torch
import torch
from conftest import ROOT

from genomix.attention import BigBirdOptions
from genomix.checkpoint import (
    STATE_FILE,
    load_training_state,
    save_training_state,
    training_state_dir,
)
from genomix.config import PretrainConfig
from genomix.errors import GenomixError
from genomix.model import EncoderConfig
from genomix.pretrain import pretrain, training_settings

# Dropout and BigBird's resampled random blocks draw from the global RNG and a module's own
# generator: resuming must restore both, not only the sampler's.
MODEL = EncoderConfig(
    d_model=16,
    n_layers=1,
    n_heads=2,
    d_ff=32,
    dropout=0.1,
    max_tokens=64,
    attention=BigBirdOptions(block_size=8, random_blocks=1, resample_random=True),
)
CONFIG = PretrainConfig(
    steps=300,
    batch_size=2,
    warmup_steps=5,
    eval_every=100,
    eval_batches=1,
    checkpoint_every=10,
    device="cpu",
)
SHORT = dataclasses.replace(CONFIG, steps=4, eval_every=2)
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def shard(human_3mer_shard: Path) -> Path:
    return human_3mer_shard


@pytest.fixture(scope="module")
def reference(shard: Path, tmp_path_factory: pytest.TempPathFactory, one_thread) -> Path:
    """The uninterrupted run, on one thread like the subprocesses."""
    out = tmp_path_factory.mktemp("reference") / "mlm"
    return pretrain([shard], out, model_config=MODEL, config=CONFIG, progress=False)


def _flags(config: object) -> list[str]:
    flags = []
    values = dataclasses.asdict(config)
    if "attention" in values:  # --attention NAME, then a flag per option of that family
        options = values.pop("attention")
        values = {"attention": options.pop("name"), **options, **values}
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, tuple):
            flags += [flag, *value] if value else []
        else:
            flags += [flag, str(value)]
    return flags


def _start(shard: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "genomix.cli", "pretrain", str(shard), "-o", str(out)]
    return subprocess.Popen(
        command + _flags(MODEL) + _flags(CONFIG),
        cwd=ROOT,
        env=ONE_THREAD,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_state(path: Path, process: subprocess.Popen, *, newer_than: int = 0) -> None:
    deadline = time.monotonic() + 120
    while not (path.is_file() and path.stat().st_mtime_ns > newer_than):
        if process.poll() is not None:
            pytest.fail(f"pretraining ended before saving a state: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no training state after 120 s")
        time.sleep(0.005)


def _saved_step(path: Path) -> int:
    return torch.load(path, weights_only=True)["step"]


def test_killed_run_resumes_to_bit_identical_weights(
    shard: Path, reference: Path, tmp_path: Path, one_thread
) -> None:
    out = tmp_path / "mlm"
    state = training_state_dir(out) / STATE_FILE

    # SIGTERM: the run saves its state after the current step and exits 1, saying so.
    process = _start(shard, out)
    _wait_for_state(state, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    stopped_at = _saved_step(state)
    assert f"stopped by SIGTERM after step {stopped_at} of 300" in stderr
    assert not out.exists()

    # SIGKILL once the rerun has saved a newer state: nothing is cleaned up or saved.
    process = _start(shard, out)
    _wait_for_state(state, process, newer_than=state.stat().st_mtime_ns)
    process.kill()
    _, stderr = process.communicate(timeout=60)
    assert f"resuming from step {stopped_at} of 300" in stderr
    killed_at = _saved_step(state)
    assert stopped_at < killed_at < CONFIG.steps and not out.exists()

    pretrain([shard], out, model_config=MODEL, config=CONFIG, progress=False)
    resumed = safetensors.torch.load_file(out / "model.safetensors")
    expected = safetensors.torch.load_file(reference / "model.safetensors")
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[name], expected[name]) for name in expected)
    metrics = pd.read_csv(out / "metrics.csv").drop(columns="tokens_per_s")
    pd.testing.assert_frame_equal(
        metrics, pd.read_csv(reference / "metrics.csv").drop(columns="tokens_per_s")
    )
    assert not state.parent.exists()  # the finished model directory supersedes the state


def test_interrupted_state_write_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"pretrain": {"lr": 0.001}}
    save_training_state(tmp_path, {"step": 10}, settings=settings)

    def crash_halfway(obj: object, handle) -> None:
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_training_state(tmp_path, {"step": 20}, settings=settings)
    assert load_training_state(tmp_path, settings=settings)["step"] == 10
    assert [path.name for path in tmp_path.iterdir()] == [STATE_FILE]


def test_leftover_partial_file_is_not_loaded(
    shard: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "mlm"
    training_state_dir(out).mkdir()
    (training_state_dir(out) / f".{STATE_FILE}.x1y2.partial").write_bytes(b"PK\x03\x04 torn")
    with caplog.at_level(logging.INFO, logger="genomix"):
        pretrain([shard], out, model_config=MODEL, config=SHORT, progress=False)
    assert "resuming" not in caplog.text
    assert pd.read_csv(out / "metrics.csv")["step"].tolist() == [2, 4]
    assert not training_state_dir(out).exists()


def test_truncated_state_is_refused(shard: Path, tmp_path: Path) -> None:
    out = tmp_path / "mlm"
    settings = training_settings([shard], MODEL, SHORT, 3, 1)
    path = save_training_state(training_state_dir(out), {"step": 1}, settings=settings)
    path.write_bytes(path.read_bytes()[:100])  # what a non-atomic copy cut short leaves
    with pytest.raises(GenomixError, match=r"state.pt: unreadable training state .*; delete "):
        pretrain([shard], out, model_config=MODEL, config=SHORT, progress=False)


def test_state_from_other_settings_is_refused(shard: Path, tmp_path: Path) -> None:
    out = tmp_path / "mlm"
    other = dataclasses.replace(SHORT, lr=0.002)
    save_training_state(
        training_state_dir(out),
        {"step": 1},
        settings=training_settings([shard], MODEL, other, 3, 1),
    )
    with pytest.raises(
        GenomixError, match=r"saved by a run with other settings \(pretrain.lr: 0.002 -> 0.001\)"
    ):
        pretrain([shard], out, model_config=MODEL, config=SHORT, progress=False)


def test_how_a_step_runs_may_change_on_resume(shard: Path) -> None:
    changed = dataclasses.replace(
        SHORT, device="cuda", precision="bf16", grad_accum_steps=2, checkpoint_every=7
    )
    assert training_settings([shard], MODEL, changed, 3, 1) == training_settings(
        [shard], MODEL, SHORT, 3, 1
    )
    assert training_settings([shard], MODEL, SHORT, 3, 1) != training_settings(
        [shard], MODEL, dataclasses.replace(SHORT, seed=1), 3, 1
    )
    fixed_blocks = dataclasses.replace(
        MODEL, attention=dataclasses.replace(MODEL.attention, resample_random=False)
    )
    recomputing = dataclasses.replace(fixed_blocks, activation_checkpointing=True)
    assert training_settings([shard], recomputing, SHORT, 3, 1) == training_settings(
        [shard], fixed_blocks, SHORT, 3, 1
    )
    assert training_settings([shard], MODEL, SHORT, 3, 1) != training_settings(
        [shard], dataclasses.replace(MODEL, d_ff=MODEL.d_ff * 2), SHORT, 3, 1
    )


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_state_with_pickled_code_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    torch.save({"version": 1, "settings": {}, "step": _RunsCode(marker)}, tmp_path / STATE_FILE)
    with pytest.raises(GenomixError, match="unreadable training state"):
        load_training_state(tmp_path, settings={})
    assert not marker.exists()
