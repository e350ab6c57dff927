"""The runtime choices (device, progress bars), and that inference does not import training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from genomix.errors import GenomixError
from genomix.runtime import hide_progress, resolve_device

INFERENCE = ("evaluate", "predict", "variants", "baselines", "scan", "explain")
TRAINING = ("genomix.train", "genomix.finetune", "genomix.pretrain")


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(GenomixError, match="device 'tpu' is not one of auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_an_error() -> None:
    with pytest.raises(GenomixError, match="torch sees no CUDA GPU"):
        resolve_device("cuda")


def test_hide_progress() -> None:
    assert [hide_progress(None), hide_progress(True), hide_progress(False)] == [None, False, True]


@pytest.mark.parametrize("module", INFERENCE)
def test_inference_does_not_import_training(module: str) -> None:
    """Evaluation and inference stand apart from the training loops (a fresh interpreter, so
    other tests' imports do not count)."""
    code = (
        f"import json, sys, genomix.{module}; "
        f"print(json.dumps(sorted(set(sys.modules) & {set(TRAINING)!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []
