"""Masked-LM pretraining of the encoder on k-mer token shards: one process or torchrun DDP,
checkpointed and resumable."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from genomix.checkpoint import (
    load_training_state,
    model_settings,
    save_training_state,
    training_state_dir,
    write_model_dir,
)
from genomix.config import PretrainConfig
from genomix.data.pretrain import (
    IGNORE_INDEX,
    MLMWindowSampler,
    TokenShard,
    mask_tokens,
    visible_base_loss,
)
from genomix.errors import GenomixError
from genomix.model import EncoderConfig, MaskedLanguageModel
from genomix.runtime import hide_progress
from genomix.train import (
    MetricsLog,
    Processes,
    StopSignal,
    TrainingStopped,
    autocast,
    build_optimizer,
    check_precision,
    module_generators,
    open_tensorboard,
    restore_training_state,
    rng_state,
    start_processes,
    unwrap_model,
    warmup_cosine,
)

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
SPANS_FILE = "spans.tsv"  # adaptive_span only: learned span per layer and head
# Options that change how a step is computed, not what is trained: a resumed run may change them.
RESUMABLE_CHANGES = frozenset(
    {"device", "precision", "compile", "grad_accum_steps", "checkpoint_every"}
)


def pretrain(
    shards: Sequence[str | Path],
    out: str | Path,
    *,
    model_config: EncoderConfig,
    config: PretrainConfig,
    progress: bool | None = None,
) -> Path:
    """Pretrain a MaskedLanguageModel on `shards` and write the model directory `out`.

    Each step draws `config.batch_size` windows of `model_config.max_tokens - 1` tokens (plus
    [CLS]) from the training part of the shards; every `eval_every` steps the masked-LM loss,
    masked-token accuracy and perplexity are measured on the held-out part (the tail of each
    chromosome, or the `valid_chroms`).

    Every `checkpoint_every` steps, and on SIGTERM, the training state is saved to
    `<out>.state/`; a rerun with the same settings resumes from it and ends with the same weights
    as an uninterrupted run. After SIGTERM, TrainingStopped is raised once the state is saved.
    Under torchrun (WORLD_SIZE > 1) each process trains on its share of every batch with
    DistributedDataParallel; rank 0 alone writes files.
    """
    with start_processes(config.device) as (processes, device):
        return _pretrain(shards, Path(out), model_config, config, processes, device, progress)


def _pretrain(
    shards: Sequence[str | Path],
    out: Path,
    model_config: EncoderConfig,
    config: PretrainConfig,
    processes: Processes,
    device: torch.device,
    progress: bool | None,
) -> Path:
    check_precision(config.precision, device)
    micro_batches = processes.world_size * config.grad_accum_steps
    if config.batch_size % micro_batches:
        raise GenomixError(
            f"pretrain.batch_size={config.batch_size} does not split into {processes.world_size} "
            f"process(es) x pretrain.grad_accum_steps={config.grad_accum_steps} equal micro-batches"
        )
    # Every process seeds alike and draws the same global batches, so the random streams of
    # rank 0, which it saves, are those of all processes (dropout masks are shared too).
    torch.manual_seed(config.seed)
    token_shards = [TokenShard(path) for path in shards]
    tokenizer = token_shards[0].tokenizer
    window = model_config.max_tokens - 1
    sampler_options = {
        "window": window,
        "valid_fraction": config.valid_fraction,
        "valid_chroms": config.valid_chroms,
        "max_unknown": config.max_unknown,
    }
    train_sampler = MLMWindowSampler(token_shards, split="train", **sampler_options)
    valid_sampler = MLMWindowSampler(token_shards, split="valid", **sampler_options)
    unigram = train_sampler.kmer_log_frequencies()

    model = MaskedLanguageModel(model_config, tokenizer.vocab_size).to(device)
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    schedule = warmup_cosine(optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps)
    generator = torch.Generator().manual_seed(config.seed)
    generators = {"sampler": generator, **module_generators(model)}
    log = MetricsLog()
    state_dir = training_state_dir(out)
    settings = training_settings(shards, model_config, config, tokenizer.k, tokenizer.stride)
    state = load_training_state(state_dir, settings=settings)
    done = 0
    if state is not None:
        restore_training_state(
            state, model=model, optimizer=optimizer, schedule=schedule, generators=generators
        )
        log.rows = state["metrics"]
        done = state["step"]
        logger.info("resuming from step %d of %d (%s)", done, config.steps, state_dir)
    elif processes.is_main:
        logger.info(
            "pretraining %.2fM parameters on %d-token windows, %d steps of %d",
            sum(p.numel() for p in model.parameters()) / 1e6,
            window + 1,
            config.steps,
            config.batch_size,
        )
    train_model, ddp_model = _wrap(model, config, processes, device)
    tensorboard = None
    if processes.is_main:
        tensorboard = open_tensorboard(
            out.with_name(out.name + ".tensorboard"), purge_step=done + 1 if done else None
        )

    def save_state(step: int) -> None:
        if processes.is_main:
            save_training_state(
                state_dir,
                {
                    "step": step,
                    "model": unwrap_model(train_model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "rng": rng_state(generators),
                    "metrics": log.rows,
                },
                settings=settings,
            )
        processes.barrier()

    bar = tqdm(
        range(done + 1, config.steps + 1),
        initial=done,
        total=config.steps,
        desc="pretrain",
        unit="step",
        disable=hide_progress(progress) if processes.is_main else True,
    )
    started, tokens_seen = time.perf_counter(), 0
    with StopSignal() as stop, contextlib.ExitStack() as cleanup:
        if tensorboard is not None:
            cleanup.callback(tensorboard.close)
        for step in bar:
            model.train()
            inputs, labels = _masked_batch(train_sampler, config, generator)
            n_predicted = int((labels != IGNORE_INDEX).sum())
            rows = processes.share(config.batch_size)
            loss_sum = _accumulate_gradients(
                train_model,
                ddp_model,
                model,
                inputs[rows].to(device),
                labels[rows].to(device),
                # DistributedDataParallel averages gradients over processes: undo it.
                scale=processes.world_size / n_predicted,
                config=config,
                device=device,
            )
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            model.encoder.after_step()
            schedule.step()
            tokens_seen += inputs.numel()
            tokens_per_second = tokens_seen / (time.perf_counter() - started)
            # Rank 0's share stands for the batch here; the metrics sum over all processes.
            shown_loss = loss_sum * processes.world_size / n_predicted
            bar.set_postfix(loss=f"{shown_loss:.3f}", tok_s=f"{tokens_per_second:,.0f}")
            if step % config.eval_every == 0 or step == config.steps:
                train_loss = processes.sum(loss_sum, device) / n_predicted
                if processes.is_main:
                    with autocast(config.precision, device):
                        valid = _validate(model, valid_sampler, config, device, unigram)
                    row = {
                        "step": step,
                        "train_loss": train_loss,
                        **valid,
                        "lr": schedule.get_last_lr()[0],
                        "tokens_per_s": tokens_per_second,
                    }
                    log.append(row)
                    for key, value in row.items():
                        if tensorboard is not None and key != "step":
                            tensorboard.add_scalar(f"pretrain/{key}", value, step)
            if step == config.steps:
                break
            stopping = processes.any(stop.requested, device)
            if stopping or (config.checkpoint_every and step % config.checkpoint_every == 0):
                save_state(step)
                logger.debug("saved the training state at step %d", step)
            if stopping:
                raise TrainingStopped(
                    f"stopped by SIGTERM after step {step} of {config.steps}; the training "
                    f"state is saved in {state_dir}: rerun the same command to resume"
                )
    if processes.is_main:
        _write_model(out, model, model_config, config, tokenizer, shards, log)
        shutil.rmtree(state_dir, ignore_errors=True)  # the model directory supersedes it
    processes.barrier()
    return out


def training_settings(
    shards: Sequence[str | Path],
    model_config: EncoderConfig,
    config: PretrainConfig,
    k: int,
    stride: int,
) -> dict[str, Any]:
    """What a saved training state must agree on to be resumed (JSON-able): the data, the model
    and the optimisation; not the options in RESUMABLE_CHANGES and
    checkpoint.RESUMABLE_MODEL_CHANGES."""
    return {
        "shards": [str(Path(path).resolve()) for path in shards],
        "tokenizer": {"k": k, "stride": stride},
        "model": model_settings(model_config),
        "pretrain": {
            key: value
            for key, value in dataclasses.asdict(config).items()
            if key not in RESUMABLE_CHANGES
        },
    }


def _wrap(
    model: nn.Module, config: PretrainConfig, processes: Processes, device: torch.device
) -> tuple[nn.Module, nn.parallel.DistributedDataParallel | None]:
    """(the module to train through, its DDP wrapper or None): DDP under torchrun, then compiled.

    Checkpoints always come from the plain `model`, so their names have no `module.` or
    `_orig_mod.` prefix.
    """
    ddp_model = None
    train_model = model
    if processes.world_size > 1:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        train_model = ddp_model
    if config.compile:
        train_model = torch.compile(train_model)
    return train_model, ddp_model


def _accumulate_gradients(
    train_model: nn.Module,
    ddp_model: nn.parallel.DistributedDataParallel | None,
    model: MaskedLanguageModel,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    scale: float,
    config: PretrainConfig,
    device: torch.device,
) -> float:
    """Backward over this process's rows in `grad_accum_steps` micro-batches; inputs, labels:
    (b, T + 1) long. Returns the summed masked-LM loss of these rows.

    Each micro-batch's summed loss is multiplied by `scale` (world size / masked tokens in the
    global batch), so the gradients add up to those of the global batch's mean loss whatever
    the split. DDP's all-reduce runs once, on the last micro-batch.
    """
    loss_total = torch.zeros((), device=inputs.device)
    n_chunks = config.grad_accum_steps
    chunks = list(zip(inputs.chunk(n_chunks), labels.chunk(n_chunks), strict=True))
    for index, (chunk_inputs, chunk_labels) in enumerate(chunks):
        last = index == len(chunks) - 1
        no_sync = ddp_model.no_sync() if ddp_model is not None and not last else None
        with no_sync or contextlib.nullcontext():
            with autocast(config.precision, device):
                predicted = chunk_labels != IGNORE_INDEX
                logits = train_model(chunk_inputs, predict=predicted)
                # reduction="sum": a micro-batch with nothing masked adds 0, not NaN.
                loss = F.cross_entropy(logits.float(), chunk_labels[predicted], reduction="sum")
                penalty = model.encoder.aux_loss() / config.grad_accum_steps
            (loss * scale + penalty).backward()
        loss_total += loss.detach()
    return loss_total.item()


def _write_model(
    out: Path,
    model: MaskedLanguageModel,
    model_config: EncoderConfig,
    config: PretrainConfig,
    tokenizer: Any,
    shards: Sequence[str | Path],
    log: MetricsLog,
) -> Path:
    """The model directory: weights, tokenizer, metadata, metrics.csv (and spans.tsv)."""
    metadata = {
        "kind": "mlm",
        "model": dataclasses.asdict(model_config),
        "tokenizer": {"k": tokenizer.k, "stride": tokenizer.stride},
        "pretrain": dataclasses.asdict(config),
        "shards": [str(path) for path in shards],
        "final": log.rows[-1],
    }
    extra_files = {METRICS_FILE: log.write}
    spans = model.encoder.learned_spans()
    if spans:
        extra_files[SPANS_FILE] = lambda path: pd.DataFrame(spans).to_csv(
            path, sep="\t", index=False
        )
        logger.info(
            "learned spans (layer, head, span): %s",
            ", ".join(f"{r['layer']}.{r['head']}={r['span']:.0f}" for r in spans),
        )
    return write_model_dir(out, model.cpu(), tokenizer, metadata, extra_files=extra_files)


@torch.no_grad()
def _validate(
    model: MaskedLanguageModel,
    sampler: MLMWindowSampler,
    config: PretrainConfig,
    device: torch.device,
    unigram: torch.Tensor,
) -> dict[str, float]:
    """Masked-LM loss, accuracy and perplexity on `eval_batches` fixed held-out batches, and
    two references on the same masked tokens: `valid_unigram_loss`, predicting each from the
    training k-mer frequencies `unigram` ((V,) log-probabilities) alone, and
    `valid_neighbour_loss`, the same frequencies restricted to the k-mers that agree with the
    bases unmasked neighbours show (`visible_base_loss`). Below the first, a model has learned
    more than which k-mers are common; below the second, more than copying visible bases."""
    model.eval()
    generator = torch.Generator().manual_seed(config.seed + 1)  # the same batches every time
    loss_sum, unigram_sum, neighbour_sum, correct, count = 0.0, 0.0, 0.0, 0, 0
    for _ in range(config.eval_batches):
        inputs, labels = _masked_batch(sampler, config, generator)
        targets = labels[labels != IGNORE_INDEX]
        unigram_sum -= unigram[targets].sum().item()
        neighbour_sum += visible_base_loss(inputs, labels, sampler.tokenizer, unigram).sum().item()
        labels = labels.to(device)
        predicted = labels != IGNORE_INDEX
        logits = model(inputs.to(device), predict=predicted).float()
        loss_sum += F.cross_entropy(logits, labels[predicted], reduction="sum").item()
        correct += (logits.argmax(-1) == labels[predicted]).sum().item()
        count += int(predicted.sum())
    loss = loss_sum / max(count, 1)
    return {
        "valid_loss": loss,
        "valid_unigram_loss": unigram_sum / max(count, 1),
        "valid_neighbour_loss": neighbour_sum / max(count, 1),
        "valid_accuracy": correct / max(count, 1),
        "valid_perplexity": math.exp(min(loss, 50.0)),
    }


def _masked_batch(
    sampler: MLMWindowSampler, config: PretrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A masked global batch with at least one prediction: (inputs, labels), both (B, T + 1) long.

    Every torchrun process draws the whole batch from the same generator and trains on its own
    rows of it, so the processes' rows together are exactly the one-process batch. A batch of
    mostly-N windows (allowed up to `max_unknown`) can come out with nothing to predict; its
    loss would be NaN and poison every weight, so it is drawn again.
    """
    while True:
        tokens = _with_cls(sampler.sample(config.batch_size, generator), sampler.tokenizer.cls_id)
        inputs, labels = mask_tokens(
            tokens, sampler.tokenizer, mask_prob=config.mask_prob, generator=generator
        )
        if (labels != IGNORE_INDEX).any():
            return inputs, labels


def _with_cls(tokens: torch.Tensor, cls_id: int) -> torch.Tensor:
    """(B, T) -> (B, T + 1) with [CLS] first."""
    return torch.cat([torch.full_like(tokens[:, :1], cls_id), tokens], dim=1)
