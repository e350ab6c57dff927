"""Fine-tuning of a promoter (binary) or chromatin (multi-label) head on a labeled table."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import shutil
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
from genomix.data.streaming import batch_loader, check_token_budget, sequence_lengths
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.metrics import best_f1_threshold, has_both_classes, mean_auroc
from genomix.model import Encoder, EncoderConfig
from genomix.scoring import score_sequences
from genomix.steps import StepSchedule
from genomix.tasks import get_task
from genomix.train import (
    MetricsLog,
    StopSignal,
    TrainingStopped,
    build_optimizer,
    freeze_encoder,
    hide_progress,
    module_generators,
    resolve_device,
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
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
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
        len(table.profiles),
        pooling=config.pooling,
        rc_average=config.rc_average,
        tokenizer=tokenizer,
    ).to(device)
    if config.freeze_encoder:
        freeze_encoder(model)

    generator = torch.Generator().manual_seed(config.seed)
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
    if not any(has_both_classes(valid.labels[:, j]) for j in range(len(table.profiles))):
        raise GenomixError(
            "the valid split has no output with both positives and negatives, so early stopping "
            "and thresholds have nothing to go by; hold out other chromosomes or rows"
        )
    train_lengths = sequence_lengths(train.sequences)
    window_bases = int(max(train_lengths.max(), sequence_lengths(valid.sequences).max()))
    check_token_budget(tokenizer, int(train_lengths.max()), max_tokens=encoder_config.max_tokens)
    pad_to = tokenizer.tokens_for_length(window_bases) + 1
    labels = torch.from_numpy(train.labels)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=_positive_weight(train.labels).to(device))

    steps = StepSchedule(
        len(train.sequences),
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
    log = MetricsLog()
    # Early stopping: the best validation so far, its weights and thresholds, validations since.
    best: dict[str, Any] = {
        "auroc": -1.0, "epoch": 0, "step": 0, "model": None, "thresholds": [], "stale": 0
    }  # fmt: skip
    # Training loss since the last validation: sum over rows, rows.
    loss = {"sum": 0.0, "rows": 0}
    generators = {"rows": generator, **module_generators(model)}
    state_dir = training_state_dir(out)
    settings = training_settings(
        train,
        valid,
        task=task,
        pretrained=pretrained,
        encoder_config=encoder_config,
        config=config,
        tokenizer=tokenizer,
    )
    state = load_training_state(state_dir, settings=settings)
    saved = 0  # the step of the last saved state
    if state is not None:
        restore_training_state(
            state, model=model, optimizer=optimizer, schedule=schedule, generators=generators
        )
        log.rows, best, loss = state["metrics"], state["best"], state["loss"]
        steps.load_state_dict(state["steps"])
        saved = steps.step
        logger.info("resuming after %s (%s)", _position(steps), state_dir)
    logger.info(
        "fine-tuning %s head (%d outputs) on %d train / %d valid rows, %d-token inputs",
        task,
        len(table.profiles),
        len(train.sequences),
        len(valid.sequences),
        pad_to,
    )
    with StopSignal() as stop:
        stopping = False
        for epoch, batches in steps.epoch_batches():
            model.train()
            inputs = batch_loader(
                train.sequences,
                labels,
                batches,
                tokenizer=tokenizer,
                pad_to=pad_to,
                num_workers=config.num_workers,
            )
            for tokens, padding, batch_labels in tqdm(
                inputs, desc=f"epoch {epoch}", unit="batch", disable=hide_progress(progress)
            ):
                logits = model(tokens.to(device), padding.to(device))
                batch_loss = loss_fn(logits, batch_labels.to(device))
                if not torch.isfinite(batch_loss):
                    raise GenomixError(
                        f"fine-tuning diverged (loss {batch_loss.item()}) in epoch {epoch}; "
                        "lower finetune.lr"
                    )
                optimizer.zero_grad(set_to_none=True)
                (batch_loss + model.encoder.span_penalty()).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                model.encoder.clamp_spans_()
                schedule.step()
                steps.advance()
                loss["sum"] += batch_loss.item() * len(tokens)
                loss["rows"] += len(tokens)
                if steps.validates():
                    best, stopping = _validate(
                        model,
                        valid,
                        tokenizer=tokenizer,
                        steps=steps,
                        best=best,
                        loss=loss,
                        log=log,
                        config=config,
                        device=device,
                        pad_to=pad_to,
                    )
                    loss = {"sum": 0.0, "rows": 0}
                    model.train()
                if stopping:
                    break
                if steps.saves():
                    save_training_state(
                        state_dir,
                        {
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "schedule": schedule.state_dict(),
                            "rng": rng_state(generators),
                            "steps": steps.state_dict(),
                            "best": best,
                            "loss": loss,
                            "metrics": log.rows,
                        },
                        settings=settings,
                    )
                    saved = steps.step
                if stop.requested:  # the steps after the last save are redone on resume
                    raise _stopped(saved, steps, state_dir)
            if stopping:
                break
    model.load_state_dict(best["model"])

    metadata = {
        "kind": "classifier",
        "task": task,
        "profiles": list(table.profiles),
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
    path = write_model_dir(
        out, model.cpu(), tokenizer, metadata, extra_files={METRICS_FILE: log.write}
    )
    shutil.rmtree(state_dir, ignore_errors=True)  # the model directory supersedes it
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


def rows_digest(*tables: LabeledTable) -> str:
    """SHA-256 (hex) of the tables' profiles, sequences and labels, in order."""
    digest = hashlib.sha256()
    for table in tables:
        digest.update(("\t".join(table.profiles) + f"\n{len(table)}\n").encode())
        for sequence in table.sequences:
            digest.update(sequence.encode() + b"\n")
        digest.update(np.ascontiguousarray(table.labels, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _validate(
    model: SequenceClassifier,
    valid: LabeledTable,
    *,
    tokenizer: KmerTokenizer,
    steps: StepSchedule,
    best: dict[str, Any],
    loss: dict[str, float],
    log: MetricsLog,
    config: FinetuneConfig,
    device: torch.device,
    pad_to: int,
) -> tuple[dict[str, Any], bool]:
    """Score the valid rows, log them with the training loss since the last validation, update
    the best validation; returns (best, whether to stop early).

    pad_to: token width T of the training inputs (N, T), which the valid rows are padded to.
    """
    probabilities = score_sequences(
        model,
        tokenizer,
        valid.sequences,
        batch_size=config.batch_size,
        device=device,
        pad_to=pad_to,
    )
    auroc = mean_auroc(valid.labels, probabilities)
    log.append(
        {
            "epoch": steps.epoch,
            "step": steps.step,
            "train_loss": loss["sum"] / loss["rows"],
            "valid_mean_auroc": auroc,
        }
    )
    if auroc > best["auroc"]:
        thresholds = [
            best_f1_threshold(valid.labels[:, j], probabilities[:, j])
            for j in range(valid.labels.shape[1])
        ]
        model_state = copy.deepcopy(model.state_dict())
        return {
            "auroc": auroc,
            "epoch": steps.epoch,
            "step": steps.step,
            "model": model_state,
            "thresholds": thresholds,
            "stale": 0,
        }, False
    best = {**best, "stale": best["stale"] + 1}
    if best["stale"] >= config.patience:
        logger.info("early stop: no validation gain in %d validations", best["stale"])
        return best, True
    return best, False


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


def training_rows(
    table: LabeledTable,
    *,
    task: str,
    max_train_rows: int,
    max_eval_rows: int,
    generator: torch.Generator,
) -> tuple[LabeledTable, LabeledTable]:
    """The (train, valid) rows fine-tuning uses: each split capped, train first, then valid, from
    `generator` (seeded with `finetune.seed`); `genomix.baselines` draws the same rows with it.

    A task kind with rare outputs (multilabel: 1-5% positives per profile) keeps their positives
    in a capped training sample (`Task.enrich_positives`).
    """
    train = cap_rows(
        table.subset("train"),
        max_train_rows,
        generator,
        enrich_positives=get_task(task).enrich_positives,
    )
    valid = cap_rows(table.subset("valid"), max_eval_rows, generator)
    return train, valid


def cap_rows(
    table: LabeledTable, limit: int, generator: torch.Generator, *, enrich_positives: bool = False
) -> LabeledTable:
    """At most `limit` rows (0 = all), a seeded sample.

    With `enrich_positives`, rows with any positive label fill up to half of the sample before
    the rest is drawn from the other rows, so rare profiles keep positives and the sample keeps
    all-negative background rows.
    """
    n = len(table.sequences)
    if limit == 0 or n <= limit:
        return table
    order = torch.randperm(n, generator=generator).numpy()
    if enrich_positives:
        has_positive = table.labels[order].any(axis=1)
        positives = order[has_positive][: limit // 2]
        others = order[~np.isin(order, positives)][: limit - len(positives)]
        order = np.concatenate([positives, others])
    return table.subset(np.sort(order[:limit]))


def _float_labels(table: LabeledTable) -> LabeledTable:
    """The table with float32 labels (a streamed table keeps them as uint8 until capped)."""
    return dataclasses.replace(table, labels=table.labels.astype(np.float32, copy=False))


def _positive_weight(labels: np.ndarray) -> torch.Tensor:
    """Per-output negatives/positives (BCE pos_weight), so rare profiles are not ignored."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    return torch.from_numpy(negatives / np.maximum(positives, 1.0)).float().clamp(max=100.0)
