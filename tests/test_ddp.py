"""A step's batch split over torchrun processes (DDP, gloo on the CPU) or over micro-batches
trains the same weights as one process taking the whole batch at once."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import safetensors.torch
import torch
from conftest import ROOT

from genomix.attention import BigBirdOptions
from genomix.config import PretrainConfig
from genomix.model import EncoderConfig
from genomix.pretrain import pretrain
from genomix.train import Processes

# Dropout 0: each process draws its own dropout masks' place in the RNG stream differently
# from one process running the whole batch, so with dropout the runs would differ by design.
MODEL = EncoderConfig(
    d_model=16,
    n_layers=1,
    n_heads=2,
    d_ff=32,
    dropout=0.0,
    max_tokens=64,
    attention=BigBirdOptions(block_size=8, random_blocks=1),
)
CONFIG = PretrainConfig(
    steps=3, batch_size=4, warmup_steps=1, eval_every=3, eval_batches=1, device="cpu"
)


@pytest.fixture(scope="module")
def shard(human_3mer_shard: Path) -> Path:
    return human_3mer_shard


@pytest.fixture(scope="module")
def one_process(shard: Path, tmp_path_factory: pytest.TempPathFactory, one_thread) -> Path:
    out = tmp_path_factory.mktemp("one") / "mlm"
    return pretrain([shard], out, model_config=MODEL, config=CONFIG, progress=False)


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(directory / "model.safetensors")


def _assert_same_training(directory: Path, reference: Path) -> None:
    # Not bit-identical: the processes' gradients are summed by an all-reduce (or micro-batches
    # by accumulation) in another order than one backward pass sums them; fp32 rounding then
    # differs in the last bits, and Adam's normalisation carries that into the weights.
    weights, expected = _weights(directory), _weights(reference)
    assert weights.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-4, atol=1e-6, msg=name)
    losses = pd.read_csv(directory / "metrics.csv")[["train_loss", "valid_loss"]]
    expected_losses = pd.read_csv(reference / "metrics.csv")[["train_loss", "valid_loss"]]
    pd.testing.assert_frame_equal(losses, expected_losses, rtol=1e-5)


def test_shares_partition_the_batch() -> None:
    rows = [list(range(12))[Processes(rank, 3).share(12)] for rank in range(3)]
    assert rows == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_two_processes_train_like_one(shard: Path, one_process: Path, tmp_path: Path) -> None:
    out = tmp_path / "mlm"
    flags = []
    options = dataclasses.asdict(MODEL.attention)  # --attention NAME, then a flag per option
    model = {**dataclasses.asdict(MODEL), "attention": options.pop("name"), **options}
    for key, value in {**model, **dataclasses.asdict(CONFIG)}.items():
        if isinstance(value, bool):
            flags.append(("--" if value else "--no-") + key.replace("_", "-"))
        elif not isinstance(value, tuple):
            flags += ["--" + key.replace("_", "-"), str(value)]
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + ["-m", "genomix.cli", "pretrain", str(shard), "-o", str(out), *flags],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "process 1 of 2 (gloo)" in result.stderr
    _assert_same_training(out, one_process)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlm"]  # no state left behind


def test_micro_batches_train_like_one_batch(
    shard: Path, one_process: Path, tmp_path: Path, one_thread
) -> None:
    config = dataclasses.replace(CONFIG, grad_accum_steps=4)
    out = pretrain([shard], tmp_path / "mlm", model_config=MODEL, config=config, progress=False)
    _assert_same_training(out, one_process)
