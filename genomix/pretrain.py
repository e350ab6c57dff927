"""Masked-LM pretraining of the encoder on k-mer token shards."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from genomix.checkpoint import write_model_dir
from genomix.config import PretrainConfig
from genomix.data.pretrain import IGNORE_INDEX, MLMWindowSampler, TokenShard, mask_tokens
from genomix.model import EncoderConfig, MaskedLanguageModel
from genomix.train import (
    MetricsLog,
    build_optimizer,
    hide_progress,
    resolve_device,
    warmup_cosine,
)

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
SPANS_FILE = "spans.tsv"  # adaptive_span only: learned span per layer and head


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
    masked-token accuracy and perplexity are measured on the held-out tail of each chromosome.
    """
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    token_shards = [TokenShard(path) for path in shards]
    tokenizer = token_shards[0].tokenizer
    window = model_config.max_tokens - 1
    sampler_options = {
        "window": window,
        "valid_fraction": config.valid_fraction,
        "max_unknown": config.max_unknown,
    }
    train_sampler = MLMWindowSampler(token_shards, split="train", **sampler_options)
    valid_sampler = MLMWindowSampler(token_shards, split="valid", **sampler_options)

    model = MaskedLanguageModel(model_config, tokenizer.vocab_size).to(device)
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    schedule = warmup_cosine(optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps)
    generator = torch.Generator().manual_seed(config.seed)
    log = MetricsLog()
    logger.info(
        "pretraining %.2fM parameters on %d-token windows, %d steps of %d",
        sum(p.numel() for p in model.parameters()) / 1e6,
        window + 1,
        config.steps,
        config.batch_size,
    )

    bar = tqdm(
        range(1, config.steps + 1), desc="pretrain", unit="step", disable=hide_progress(progress)
    )
    started = time.perf_counter()
    for step in bar:
        model.train()
        inputs, labels = _masked_batch(train_sampler, config, generator)
        labels = labels.to(device)
        predicted = labels != IGNORE_INDEX
        logits = model(inputs.to(device), predict=predicted)
        loss = F.cross_entropy(logits, labels[predicted])
        total = loss + model.encoder.span_penalty()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        model.encoder.clamp_spans_()
        schedule.step()
        tokens_per_second = step * inputs.numel() / (time.perf_counter() - started)
        bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{tokens_per_second:,.0f}")
        if step % config.eval_every == 0 or step == config.steps:
            valid = _validate(model, valid_sampler, config, device)
            log.append(
                {
                    "step": step,
                    "train_loss": loss.item(),
                    **valid,
                    "lr": schedule.get_last_lr()[0],
                    "tokens_per_s": tokens_per_second,
                }
            )

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
) -> dict[str, float]:
    """Masked-LM loss, accuracy and perplexity on `eval_batches` fixed held-out batches."""
    model.eval()
    generator = torch.Generator().manual_seed(config.seed + 1)  # the same batches every time
    loss_sum, correct, count = 0.0, 0, 0
    for _ in range(config.eval_batches):
        inputs, labels = _masked_batch(sampler, config, generator)
        labels = labels.to(device)
        predicted = labels != IGNORE_INDEX
        logits = model(inputs.to(device), predict=predicted)
        loss_sum += F.cross_entropy(logits, labels[predicted], reduction="sum").item()
        correct += (logits.argmax(-1) == labels[predicted]).sum().item()
        count += int(predicted.sum())
    loss = loss_sum / max(count, 1)
    return {
        "valid_loss": loss,
        "valid_accuracy": correct / max(count, 1),
        "valid_perplexity": math.exp(min(loss, 50.0)),
    }


def _masked_batch(
    sampler: MLMWindowSampler, config: PretrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A masked batch with at least one prediction: (inputs, labels), both (B, T + 1) long.

    A batch of mostly-N windows (allowed up to `max_unknown`) can come out with nothing to
    predict; its loss would be NaN and poison every weight, so it is drawn again.
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
