"""Fine-tuning resumes from its last saved step, at an epoch's end or mid-epoch: a run stopped by
SIGTERM and rerun ends bit-identical to an uninterrupted one; a state saved with other settings
is refused, naming the setting."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from conftest import TINY_MODEL

import genomix.finetune
from genomix.checkpoint import STATE_FILE, save_training_state, training_state_dir
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data.rows import training_rows
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.finetune import finetune, training_settings
from genomix.kmers import KmerTokenizer
from genomix.train import TrainingStopped

# Dropout draws from the global RNG and resampled BigBird blocks from a module's generator, the
# row order from the seeded generator: resuming must restore all three. Mean pooling, since the
# [CLS] query is global: with one layer and [CLS] pooling the random blocks would not matter.
MODEL = dataclasses.replace(
    TINY_MODEL,
    dropout=0.1,
    attention=dataclasses.replace(TINY_MODEL.attention, resample_random=True),
)
TOKENIZE = TokenizeConfig(k=3, stride=1)
CONFIG = FinetuneConfig(
    epochs=3,
    batch_size=16,
    lr=1e-3,
    patience=3,
    pooling="mean",
    max_train_rows=64,
    max_eval_rows=32,
    device="cpu",
)


def _finetune(table: LabeledTable, out: Path, config: FinetuneConfig = CONFIG) -> Path:
    return finetune(
        table,
        out,
        task="promoter",
        config=config,
        model_config=MODEL,
        tokenize_config=TOKENIZE,
        progress=False,
    )


@pytest.fixture(scope="module")
def reference(promoter_table, tmp_path_factory: pytest.TempPathFactory, one_thread) -> Path:
    """The uninterrupted three-epoch run."""
    return _finetune(promoter_table, tmp_path_factory.mktemp("reference") / "head")


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _sigterm_after_save(monkeypatch: pytest.MonkeyPatch, saves: int = 1) -> None:
    """SIGTERM right after the state of epoch `saves` is written (as if during validation)."""
    save = genomix.finetune.save_training_state
    count = iter(range(saves, 0, -1))

    def save_then_signal(*args, **kwargs) -> Path:
        path = save(*args, **kwargs)
        if next(count) == 1:
            _sigterm()
        return path

    monkeypatch.setattr(genomix.finetune, "save_training_state", save_then_signal)


def _sigterm_in_epoch_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM after the first batch of epoch 2: that epoch is cut short and redone on resume."""
    bar = genomix.finetune.tqdm

    def signalling_bar(batches: Iterable, *, desc: str, **kwargs) -> Iterator:
        for index, batch in enumerate(bar(batches, desc=desc, **kwargs)):
            if desc == "epoch 2" and index == 1:
                _sigterm()
            yield batch

    monkeypatch.setattr(genomix.finetune, "tqdm", signalling_bar)


@pytest.mark.parametrize(
    "stop", [_sigterm_after_save, _sigterm_in_epoch_2], ids=["after_epoch_1", "in_epoch_2"]
)
def test_stopped_run_resumes_to_bit_identical_weights(
    stop,
    promoter_table,
    reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    one_thread,
) -> None:
    out = tmp_path / "head"
    state = training_state_dir(out) / STATE_FILE
    handler = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as patch:
        stop(patch)
        with pytest.raises(
            TrainingStopped,
            match=r"training state after step 4 of 12 \(epoch 1 of 3\) is saved in .*head\.state",
        ):
            _finetune(promoter_table, out)
    assert signal.getsignal(signal.SIGTERM) is handler  # the previous handler is put back
    assert torch.load(state, weights_only=True)["steps"]["step"] == 4 and not out.exists()

    with caplog.at_level(logging.INFO, logger="genomix"):
        _finetune(promoter_table, out)
    assert "resuming after step 4 of 12 (epoch 1 of 3)" in caplog.text
    resumed, expected = _weights(out), _weights(reference)
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[name], expected[name]) for name in expected)
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2, 3]
    pd.testing.assert_frame_equal(metrics, pd.read_csv(reference / "metrics.csv"))
    metadata, reference_metadata = (
        json.loads((path / "config.json").read_text()) for path in (out, reference)
    )
    for key in ("thresholds", "best_epoch", "valid_mean_auroc"):
        assert metadata[key] == reference_metadata[key]
    assert not state.parent.exists()  # the finished model directory supersedes the state


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(directory / "model.safetensors")


def test_resume_keeps_the_best_epoch_and_patience(
    promoter_table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread
) -> None:
    """Validation AUROC 0.9, 0.8, 0.7: epoch 1 stays best and epoch 3 stops early (patience 2),
    also when the run is stopped after epoch 2 and resumed."""
    config = dataclasses.replace(CONFIG, epochs=4, patience=2, max_train_rows=32)

    def run(out: Path, aurocs: list[float]) -> Path:
        scripted = iter(aurocs)
        monkeypatch.setattr(genomix.finetune, "mean_auroc", lambda *args: next(scripted))
        return _finetune(promoter_table, out, config)

    reference = run(tmp_path / "reference", [0.9, 0.8, 0.7])
    out = tmp_path / "head"
    with monkeypatch.context() as patch:
        _sigterm_after_save(patch, saves=2)
        with pytest.raises(TrainingStopped, match=r"after step 4 of 8 \(epoch 2 of 4\)"):
            run(out, [0.9, 0.8])
    run(out, [0.7])
    for directory in (reference, out):
        metadata = json.loads((directory / "config.json").read_text())
        assert (metadata["best_epoch"], metadata["valid_mean_auroc"]) == (1, 0.9)
        assert pd.read_csv(directory / "metrics.csv")["epoch"].tolist() == [1, 2, 3]
    resumed, expected = _weights(out), _weights(reference)
    assert all(torch.equal(resumed[name], expected[name]) for name in expected)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "metrics.csv"), pd.read_csv(reference / "metrics.csv")
    )


def test_sigterm_in_the_first_epoch_saves_nothing(
    promoter_table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "head"
    monkeypatch.setattr(genomix.finetune, "tqdm", lambda batches, **kwargs: _signal_first(batches))
    with pytest.raises(
        TrainingStopped, match=r"\(epoch 1 of 3\), before any training state was saved"
    ):
        _finetune(promoter_table, out)
    assert not training_state_dir(out).exists() and not out.exists()


def _signal_first(batches: Iterable) -> Iterator:
    _sigterm()
    yield from batches


def _settings(table: LabeledTable, config: FinetuneConfig) -> dict:
    train, valid = training_rows(
        table,
        task="promoter",
        max_train_rows=config.max_train_rows,
        max_eval_rows=config.max_eval_rows,
        generator=torch.Generator().manual_seed(config.seed),
    )
    return training_settings(
        train,
        valid,
        task="binary",  # finetune saves the task kind (the legacy name maps to it)
        pretrained=None,
        encoder_config=MODEL,
        config=config,
        tokenizer=KmerTokenizer(TOKENIZE.k, TOKENIZE.stride),
    )


def _relabeled(table: LabeledTable) -> LabeledTable:
    """The table with every label flipped: same sequences, other training data."""
    return dataclasses.replace(table, labels=np.ascontiguousarray(1.0 - table.labels))


@pytest.mark.parametrize(
    ("saved_with", "named"),
    [
        (lambda table: _settings(table, dataclasses.replace(CONFIG, lr=2e-3)),
         r"finetune\.lr: 0\.002 -> 0\.001"),
        (lambda table: _settings(_relabeled(table), CONFIG), r"rows: '[0-9a-f]{64}' -> "),
        (lambda table: {**_settings(table, CONFIG), "task": "multilabel"},
         r"task: 'multilabel' -> 'binary'"),
    ],
    ids=["lr", "rows", "task"],
)  # fmt: skip
def test_state_from_other_settings_is_refused(
    saved_with, named: str, promoter_table, tmp_path: Path
) -> None:
    out = tmp_path / "head"
    save_training_state(training_state_dir(out), {"epoch": 1}, settings=saved_with(promoter_table))
    with pytest.raises(GenomixError, match=rf"saved by a run with other settings \({named}"):
        _finetune(promoter_table, out)


def test_device_may_change_on_resume(promoter_table) -> None:
    on_gpu = dataclasses.replace(CONFIG, device="cuda")
    assert _settings(promoter_table, on_gpu) == _settings(promoter_table, CONFIG)
    assert _settings(promoter_table, CONFIG) != _settings(
        promoter_table, dataclasses.replace(CONFIG, seed=1)
    )


# Step-based: 64 train rows in batches of 16 are 4 steps per epoch; 10 steps end in epoch 3.
# Validation at steps 3, 6, 9 and 10; the state is saved at steps 2, 4, 6 and 8.
STEPS = dataclasses.replace(CONFIG, max_steps=10, eval_every=3, checkpoint_every=2)


@pytest.fixture(scope="module")
def step_reference(promoter_table, tmp_path_factory: pytest.TempPathFactory, one_thread) -> Path:
    """The uninterrupted ten-step run."""
    return _finetune(promoter_table, tmp_path_factory.mktemp("steps") / "head", STEPS)


def test_step_run_validates_every_n_steps(step_reference: Path) -> None:
    metrics = pd.read_csv(step_reference / "metrics.csv")
    assert metrics["step"].tolist() == [3, 6, 9, 10]
    assert metrics["epoch"].tolist() == [1, 2, 3, 3]
    metadata = json.loads((step_reference / "config.json").read_text())
    best = metrics.loc[metrics["valid_mean_auroc"].idxmax()]
    assert (metadata["best_step"], metadata["best_epoch"]) == (best["step"], best["epoch"])


@pytest.mark.parametrize(("saves", "step", "epoch"), [(1, 2, 1), (3, 6, 2)])
def test_step_run_resumes_mid_epoch_bit_identical(
    saves: int,
    step: int,
    epoch: int,
    promoter_table,
    step_reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    one_thread,
) -> None:
    """Stopped right after the state of step 2 (or 6) is saved, half-way through an epoch: the
    resumed run takes the rest of that epoch's permutation and ends with the same weights."""
    out = tmp_path / "head"
    with monkeypatch.context() as patch:
        _sigterm_after_save(patch, saves=saves)
        with pytest.raises(
            TrainingStopped, match=rf"after step {step} of 10 \(epoch {epoch} of 3\) is saved"
        ):
            _finetune(promoter_table, out, STEPS)
    saved = torch.load(training_state_dir(out) / STATE_FILE, weights_only=True)["steps"]
    assert saved["step"] == step and saved["step"] % 4 != 0  # mid-epoch
    _finetune(promoter_table, out, STEPS)
    resumed, expected = _weights(out), _weights(step_reference)
    assert all(torch.equal(resumed[name], expected[name]) for name in expected)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "metrics.csv"), pd.read_csv(step_reference / "metrics.csv")
    )


def test_early_stopping_counts_validations(
    promoter_table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread
) -> None:
    """Validation every 2 steps (twice per epoch) with AUROC 0.9, 0.8, 0.7 and patience 2: the
    run stops at the third validation, step 6 in epoch 2, and keeps step 2's weights."""
    config = dataclasses.replace(CONFIG, eval_every=2, patience=2)
    scripted = iter([0.9, 0.8, 0.7])
    monkeypatch.setattr(genomix.finetune, "mean_auroc", lambda *args: next(scripted))
    out = _finetune(promoter_table, tmp_path / "head", config)
    assert pd.read_csv(out / "metrics.csv")["step"].tolist() == [2, 4, 6]
    metadata = json.loads((out / "config.json").read_text())
    assert (metadata["best_step"], metadata["best_epoch"], metadata["valid_mean_auroc"]) == (
        2,
        1,
        0.9,
    )
