"""Fine-tuning of a promoter (binary) or chromatin (multi-label) head on a labeled table."""

from __future__ import annotations

import copy
import dataclasses
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genomix.checkpoint import (
    encoder_config_from,
    load_pretrained_encoder,
    load_training_state,
    model_settings,
    read_pretrained_metadata,
    read_tokenizer,
    save_training_state,
    training_state_dir,
    write_model_dir,
)
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data.rows import positive_weight, rows_digest, training_rows
from genomix.data.streaming import batch_loader, check_token_budget, sequence_lengths
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.metrics import best_f1_threshold, has_both_classes, mean_auroc
from genomix.model import Encoder, EncoderConfig
from genomix.runtime import hide_progress, resolve_device
from genomix.scoring import score_sequences
from genomix.steps import StepSchedule
from genomix.tasks import get_task
from genomix.train import (
    MetricsLog,
    StopSignal,
    TrainingStopped,
    build_optimizer,
    freeze_encoder,
    module_generators,
    restore_training_state,
    rng_state,
    warmup_cosine,
)

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
# Options that change where training runs, not what it computes: a resumed run may change them.
RESUMABLE_CHANGES = frozenset({"device", "num_workers"})


def finetune(
    table: LabeledTable,
    out: str | Path,
    *,
    task: str,
    config: FinetuneConfig,
    pretrained: str | Path | None = None,
    model_config: EncoderConfig | None = None,
    tokenize_config: TokenizeConfig | None = None,
    progress: bool | None = None,
) -> Path:
    """Train a SequenceClassifier on the table's train rows and write the model directory `out`.

    `task` names a task kind (`genomix.tasks`; the legacy 'promoter'/'chromatin' name theirs),
    saved with the model by its kind's name.

    The encoder comes from `pretrained` (a `genomix pretrain` model directory) or, without it, is
    built from scratch from `model_config` and `tokenize_config`. Training runs `config.epochs`
    epochs or, with `config.max_steps`, that many steps (`genomix.steps.StepSchedule`), and
    validates at the end of each epoch or every `config.eval_every` steps. Each step's batch is
    cut (a streamed table's GenomeWindows) and tokenized when it is needed
    (`genomix.data.streaming`), in `config.num_workers` DataLoader processes; the batches do not
    depend on their number. It stops early when
    the mean validation AUROC has not improved for `config.patience` validations; the best
    validation's weights are kept.

    At each validation but the last (or every `config.checkpoint_every` steps), the training state
    (weights, optimizer, schedule, random streams, the step schedule's position, early-stopping
    state, metrics) is saved to `<out>.state/`; a rerun with the same settings resumes from the
    last saved step, mid-epoch too, and ends with the same weights as an uninterrupted run.
    SIGTERM stops training after the current step (after saving, when that step saves) and raises
    TrainingStopped; steps after the last save are redone on resume. The state is deleted once
    the model directory is written.
    """
    task = get_task(task).name  # a legacy head name is saved as its kind
    torch.manual_seed(config.seed)  # the classifier's initial weights and dropout draw from it
    device = resolve_device(config.device)
    model, tokenizer, encoder_config = _build_classifier(
        len(table.profiles),
        config=config,
        pretrained=pretrained,
        model_config=model_config,
        tokenize_config=tokenize_config,
        device=device,
    )
    generator = torch.Generator().manual_seed(config.seed)  # the rows, then each epoch's order
    train, valid = _checked_rows(table, task=task, config=config, generator=generator)
    inputs = _train_inputs(
        train, valid, tokenizer=tokenizer, max_tokens=encoder_config.max_tokens, device=device
    )
    settings = training_settings(
        train,
        valid,
        task=task,
        pretrained=pretrained,
        encoder_config=encoder_config,
        config=config,
        tokenizer=tokenizer,
    )
    loop = _start_loop(
        model,
        n_rows=len(train.sequences),
        config=config,
        generator=generator,
        state_dir=training_state_dir(out),
        settings=settings,
    )
    _train(loop, inputs, task=task, config=config, progress=progress)
    model.load_state_dict(loop.best["model"])
    metadata = _model_metadata(
        task,
        table.profiles,
        config=config,
        window_bases=inputs.window_bases,
        best=loop.best,
        encoder_config=encoder_config,
        tokenizer=tokenizer,
        pretrained=pretrained,
    )
    path = write_model_dir(
        out, model.cpu(), tokenizer, metadata, extra_files={METRICS_FILE: loop.log.write}
    )
    shutil.rmtree(loop.state_dir, ignore_errors=True)  # the model directory supersedes it
    return path


def training_settings(
    train: LabeledTable,
    valid: LabeledTable,
    *,
    task: str,
    pretrained: str | Path | None,
    encoder_config: EncoderConfig,
    config: FinetuneConfig,
    tokenizer: KmerTokenizer,
) -> dict[str, Any]:
    """What a saved fine-tuning state must agree on (JSON-able): the train and valid rows (a
    digest of their sequences and labels), the task, the pretrained encoder, the model, the
    tokenizer and the fine-tuning options but those in RESUMABLE_CHANGES."""
    return {
        "rows": rows_digest(train, valid),
        "task": task,
        "pretrained": None if pretrained is None else str(Path(pretrained).resolve()),
        "tokenizer": {"k": tokenizer.k, "stride": tokenizer.stride},
        "model": model_settings(encoder_config),
        "finetune": {
            key: value
            for key, value in dataclasses.asdict(config).items()
            if key not in RESUMABLE_CHANGES
        },
    }


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """What every step trains on and every validation scores.

    train: the N train rows, tokenized batch by batch (`genomix.data.streaming.batch_loader`).
    labels: (N, P) float32 0/1, the train rows' labels.
    pad_to: token width T every train and valid input is padded to.
    window_bases: the longest train or valid row (bp), which T fits.
    """

    train: LabeledTable
    labels: torch.Tensor
    loss_fn: torch.nn.BCEWithLogitsLoss
    valid: LabeledTable
    tokenizer: KmerTokenizer
    device: torch.device
    pad_to: int
    window_bases: int


@dataclasses.dataclass
class _Loop:
    """The training loop's state: what a saved training state holds, and where it is saved."""

    model: SequenceClassifier
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    steps: StepSchedule
    generators: dict[str, torch.Generator]
    state_dir: Path
    settings: dict[str, Any]
    log: MetricsLog = dataclasses.field(default_factory=MetricsLog)
    # Early stopping: the best validation so far, its weights and thresholds, validations since.
    best: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {
            "auroc": -1.0,
            "epoch": 0,
            "step": 0,
            "model": None,
            "thresholds": [],
            "stale": 0,
        }
    )
    # Training loss since the last validation: sum over rows, rows.
    loss: dict[str, float] = dataclasses.field(default_factory=lambda: {"sum": 0.0, "rows": 0})
    saved: int = 0  # the step of the last saved state


def _build_classifier(
    n_outputs: int,
    *,
    config: FinetuneConfig,
    pretrained: str | Path | None,
    model_config: EncoderConfig | None,
    tokenize_config: TokenizeConfig | None,
    device: torch.device,
) -> tuple[SequenceClassifier, KmerTokenizer, EncoderConfig]:
    """The classifier on `device` (encoder frozen with `config.freeze_encoder`), its tokenizer and
    its encoder's config: pretrained from `pretrained`, else new from the two configs."""
    if pretrained is not None:
        encoder_config = encoder_config_from(read_pretrained_metadata(pretrained))
        tokenizer = read_tokenizer(pretrained)
    else:
        encoder_config = model_config or EncoderConfig()
        tokenize_config = tokenize_config or TokenizeConfig()
        tokenizer = KmerTokenizer(tokenize_config.k, tokenize_config.stride)
    encoder = Encoder(encoder_config, tokenizer.vocab_size)
    if pretrained is not None:
        load_pretrained_encoder(encoder, pretrained)
    model = SequenceClassifier(
        encoder,
        n_outputs,
        pooling=config.pooling,
        rc_average=config.rc_average,
        tokenizer=tokenizer,
        kmer_bag=config.kmer_bag,
    ).to(device)
    if config.freeze_encoder:
        freeze_encoder(model)
    return model, tokenizer, encoder_config


def _checked_rows(
    table: LabeledTable, *, task: str, config: FinetuneConfig, generator: torch.Generator
) -> tuple[LabeledTable, LabeledTable]:
    """The (train, valid) rows (`genomix.data.rows.training_rows`, drawn from `generator`), with
    float32 labels.

    GenomixError unless both splits have rows and some output has both classes in valid.
    """
    train, valid = training_rows(
        table,
        task=task,
        max_train_rows=config.max_train_rows,
        max_eval_rows=config.max_eval_rows,
        generator=generator,
    )
    train, valid = _float_labels(train), _float_labels(valid)
    if len(train.sequences) == 0 or len(valid.sequences) == 0:
        raise GenomixError(
            f"the table has {len(train.sequences)} train and {len(valid.sequences)} valid rows; "
            "both splits need rows"
        )
    if not any(has_both_classes(valid.labels[:, j]) for j in range(len(valid.profiles))):
        raise GenomixError(
            "the valid split has no output with both positives and negatives, so early stopping "
            "and thresholds have nothing to go by; hold out other chromosomes or rows"
        )
    return train, valid


def _train_inputs(
    train: LabeledTable,
    valid: LabeledTable,
    *,
    tokenizer: KmerTokenizer,
    max_tokens: int,
    device: torch.device,
) -> _Inputs:
    """What training needs of the rows: the token width that fits the longest train or valid row
    (GenomixError when a train row needs more than `max_tokens`), and the loss, weighted with
    `genomix.data.rows.positive_weight` of the train labels."""
    train_lengths = sequence_lengths(train.sequences)
    window_bases = int(max(train_lengths.max(), sequence_lengths(valid.sequences).max()))
    check_token_budget(tokenizer, int(train_lengths.max()), max_tokens=max_tokens)
    pad_to = tokenizer.tokens_for_length(window_bases) + 1
    labels = torch.from_numpy(train.labels)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=positive_weight(train.labels).to(device))
    return _Inputs(train, labels, loss_fn, valid, tokenizer, device, pad_to, window_bases)


def _start_loop(
    model: SequenceClassifier,
    *,
    n_rows: int,
    config: FinetuneConfig,
    generator: torch.Generator,
    state_dir: Path,
    settings: dict[str, Any],
) -> _Loop:
    """The loop over `n_rows` train rows: its step schedule (each epoch's order drawn from
    `generator`), optimizer and learning-rate schedule, resumed from the state saved in
    `state_dir` when one was saved with the same `settings`."""
    steps = StepSchedule(
        n_rows,
        batch_size=config.batch_size,
        epochs=config.epochs,
        max_steps=config.max_steps,
        eval_every=config.eval_every,
        checkpoint_every=config.checkpoint_every,
        generator=generator,
    )
    total_steps = steps.total_steps
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    schedule = warmup_cosine(
        optimizer, warmup_steps=int(config.warmup_fraction * total_steps), total_steps=total_steps
    )
    generators = {"rows": generator, **module_generators(model)}
    loop = _Loop(model, optimizer, schedule, steps, generators, state_dir, settings)
    state = load_training_state(state_dir, settings=settings)
    if state is not None:
        restore_training_state(
            state, model=model, optimizer=optimizer, schedule=schedule, generators=generators
        )
        loop.log.rows, loop.best, loop.loss = state["metrics"], state["best"], state["loss"]
        steps.load_state_dict(state["steps"])
        loop.saved = steps.step
        logger.info("resuming after %s (%s)", _position(steps), state_dir)
    return loop


def _train(
    loop: _Loop, inputs: _Inputs, *, task: str, config: FinetuneConfig, progress: bool | None
) -> None:
    """Run the loop's epochs from where it stands to the end or an early stop."""
    logger.info(
        "fine-tuning %s head (%d outputs) on %d train / %d valid rows, %d-token inputs",
        task,
        inputs.labels.shape[1],
        len(inputs.train.sequences),
        len(inputs.valid.sequences),
        inputs.pad_to,
    )
    with StopSignal() as stop:
        for epoch, batches in loop.steps.epoch_batches():
            if _train_epoch(
                loop, inputs, epoch, batches, config=config, stop=stop, progress=progress
            ):
                return  # early stop


def _train_epoch(
    loop: _Loop,
    inputs: _Inputs,
    epoch: int,
    batches: list[torch.Tensor],
    *,
    config: FinetuneConfig,
    stop: StopSignal,
    progress: bool | None,
) -> bool:
    """Train on one epoch's (rest of its) batches, validating and saving the state when the step
    schedule says so; returns whether early stopping ends training.

    batches: (B,) int64 row indices each. Raises TrainingStopped after a step once SIGTERM came.
    """
    loop.model.train()
    loader = batch_loader(
        inputs.train.sequences,
        inputs.labels,
        batches,
        tokenizer=inputs.tokenizer,
        pad_to=inputs.pad_to,
        num_workers=config.num_workers,
    )
    for tokens, padding, labels in tqdm(
        loader, desc=f"epoch {epoch}", unit="batch", disable=hide_progress(progress)
    ):
        _train_step(loop, inputs, tokens, padding, labels, epoch=epoch)
        if loop.steps.validates():
            auroc, probabilities = _validate(loop, inputs, batch_size=config.batch_size)
            stopping = _track_best(
                loop, inputs.valid, auroc, probabilities, patience=config.patience
            )
            loop.loss = {"sum": 0.0, "rows": 0}
            loop.model.train()
            if stopping:
                return True
        if loop.steps.saves():
            _save_state(loop)
        if stop.requested:  # the steps after the last save are redone on resume
            raise _stopped(loop.saved, loop.steps, loop.state_dir)
    return False


def _train_step(
    loop: _Loop,
    inputs: _Inputs,
    tokens: torch.Tensor,
    padding: torch.Tensor,
    labels: torch.Tensor,
    *,
    epoch: int,
) -> None:
    """One optimizer step on a batch, adding its loss to `loop.loss`.

    tokens: (B, T) int64; padding: (B, T) bool, True at padding; labels: (B, P) float32.
    """
    model, device = loop.model, inputs.device
    logits = model(tokens.to(device), padding.to(device))
    batch_loss = inputs.loss_fn(logits, labels.to(device))
    if not torch.isfinite(batch_loss):
        raise GenomixError(
            f"fine-tuning diverged (loss {batch_loss.item()}) in epoch {epoch}; lower finetune.lr"
        )
    loop.optimizer.zero_grad(set_to_none=True)
    (batch_loss + model.encoder.aux_loss()).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    loop.optimizer.step()
    model.encoder.after_step()
    loop.schedule.step()
    loop.steps.advance()
    loop.loss["sum"] += batch_loss.item() * len(tokens)
    loop.loss["rows"] += len(tokens)


def _validate(loop: _Loop, inputs: _Inputs, *, batch_size: int) -> tuple[float, np.ndarray]:
    """Score the valid rows and log their mean AUROC with the training loss since the last
    validation; returns (mean AUROC, probabilities (N_valid, P))."""
    valid = inputs.valid
    probabilities = score_sequences(
        loop.model,
        inputs.tokenizer,
        valid.sequences,
        batch_size=batch_size,
        device=inputs.device,
        pad_to=inputs.pad_to,
    )
    auroc = mean_auroc(valid.labels, probabilities)
    loop.log.append(
        {
            "epoch": loop.steps.epoch,
            "step": loop.steps.step,
            "train_loss": loop.loss["sum"] / loop.loss["rows"],
            "valid_mean_auroc": auroc,
        }
    )
    return auroc, probabilities


def _track_best(
    loop: _Loop, valid: LabeledTable, auroc: float, probabilities: np.ndarray, *, patience: int
) -> bool:
    """Keep this validation's weights and F1 thresholds in `loop.best` when its mean AUROC beats
    the best so far; returns whether `patience` validations in a row brought no gain.

    probabilities: (N_valid, P) of the valid rows.
    """
    if auroc > loop.best["auroc"]:
        thresholds = [
            best_f1_threshold(valid.labels[:, j], probabilities[:, j])
            for j in range(valid.labels.shape[1])
        ]
        loop.best = {
            "auroc": auroc,
            "epoch": loop.steps.epoch,
            "step": loop.steps.step,
            "model": copy.deepcopy(loop.model.state_dict()),
            "thresholds": thresholds,
            "stale": 0,
        }
        return False
    loop.best = {**loop.best, "stale": loop.best["stale"] + 1}
    if loop.best["stale"] >= patience:
        logger.info("early stop: no validation gain in %d validations", loop.best["stale"])
        return True
    return False


def _save_state(loop: _Loop) -> None:
    """Save everything a rerun needs to go on after this step to `loop.state_dir`."""
    save_training_state(
        loop.state_dir,
        {
            "model": loop.model.state_dict(),
            "optimizer": loop.optimizer.state_dict(),
            "schedule": loop.schedule.state_dict(),
            "rng": rng_state(loop.generators),
            "steps": loop.steps.state_dict(),
            "best": loop.best,
            "loss": loop.loss,
            "metrics": loop.log.rows,
        },
        settings=loop.settings,
    )
    loop.saved = loop.steps.step


def _model_metadata(
    task: str,
    profiles: Sequence[str],
    *,
    config: FinetuneConfig,
    window_bases: int,
    best: dict[str, Any],
    encoder_config: EncoderConfig,
    tokenizer: KmerTokenizer,
    pretrained: str | Path | None,
) -> dict[str, Any]:
    """The classifier's metadata (JSON-able): what predict needs, and how it was trained."""
    return {
        "kind": "classifier",
        "task": task,
        "profiles": list(profiles),
        "pooling": config.pooling,
        "window_bases": window_bases,
        "thresholds": best["thresholds"],
        "best_epoch": best["epoch"],
        "best_step": best["step"],
        "valid_mean_auroc": best["auroc"],
        "model": dataclasses.asdict(encoder_config),
        "tokenizer": {"k": tokenizer.k, "stride": tokenizer.stride},
        "finetune": dataclasses.asdict(config),
        "pretrained": None if pretrained is None else str(pretrained),
    }


def _position(steps: StepSchedule) -> str:
    """'step 6 of 12 (epoch 2 of 3)': where training stands."""
    return f"step {steps.step} of {steps.total_steps} (epoch {steps.epoch} of {steps.epochs})"


def _stopped(saved: int, steps: StepSchedule, state_dir: Path) -> TrainingStopped:
    """The error SIGTERM ends fine-tuning with, saying where a rerun resumes."""
    if saved == 0:
        return TrainingStopped(
            f"stopped by SIGTERM at {_position(steps)}, before any training state was saved; "
            "a rerun starts over"
        )
    epoch = -(-saved // steps.steps_per_epoch)
    return TrainingStopped(
        f"stopped by SIGTERM; the training state after step {saved} of {steps.total_steps} "
        f"(epoch {epoch} of {steps.epochs}) is saved in {state_dir}: rerun the same command to "
        "resume"
    )


def _float_labels(table: LabeledTable) -> LabeledTable:
    """The table with float32 labels (a streamed table keeps them as uint8 until capped)."""
    return dataclasses.replace(table, labels=table.labels.astype(np.float32, copy=False))
