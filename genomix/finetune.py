"""Fine-tuning of a promoter (binary) or chromatin (multi-label) head on a labeled table."""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genomix.checkpoint import (
    encoder_config_from,
    load_pretrained_encoder,
    read_pretrained_metadata,
    read_tokenizer,
    write_model_dir,
)
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.metrics import best_f1_threshold, has_both_classes, mean_auroc
from genomix.model import Encoder, EncoderConfig
from genomix.scoring import encode_sequences, score_sequences
from genomix.train import (
    MetricsLog,
    build_optimizer,
    freeze_encoder,
    hide_progress,
    resolve_device,
    warmup_cosine,
)

logger = logging.getLogger(__name__)

TASKS = ("promoter", "chromatin")
METRICS_FILE = "metrics.csv"


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

    The encoder comes from `pretrained` (a `genomix pretrain` model directory) or, without it, is
    built from scratch from `model_config` and `tokenize_config`. Training stops early when the
    mean validation AUROC has not improved for `config.patience` epochs; the best epoch is kept.
    """
    if task not in TASKS:
        raise GenomixError(f"task '{task}' is not one of {', '.join(TASKS)}")
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
    window_bases = max(len(sequence) for sequence in train.sequences + valid.sequences)
    tokens, padding = encode_sequences(
        tokenizer,
        train.sequences,
        max_tokens=encoder_config.max_tokens,
        pad_to=tokenizer.tokens_for_length(window_bases) + 1,
    )
    labels = torch.from_numpy(train.labels)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=_positive_weight(train.labels).to(device))

    steps_per_epoch = -(-len(train.sequences) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    schedule = warmup_cosine(
        optimizer, warmup_steps=int(config.warmup_fraction * total_steps), total_steps=total_steps
    )
    log = MetricsLog()
    best_auroc, best_state, best_epoch, stale = -1.0, None, 0, 0
    logger.info(
        "fine-tuning %s head (%d outputs) on %d train / %d valid rows, %d-token inputs",
        task,
        len(table.profiles),
        len(train.sequences),
        len(valid.sequences),
        tokens.shape[1],
    )
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train.sequences), generator=generator)
        batches = order.split(config.batch_size)
        loss_sum = 0.0
        for batch in tqdm(
            batches, desc=f"epoch {epoch}", unit="batch", disable=hide_progress(progress)
        ):
            logits = model(tokens[batch].to(device), padding[batch].to(device))
            loss = loss_fn(logits, labels[batch].to(device))
            if not torch.isfinite(loss):
                raise GenomixError(
                    f"fine-tuning diverged (loss {loss.item()}) in epoch {epoch}; lower finetune.lr"
                )
            optimizer.zero_grad(set_to_none=True)
            (loss + model.encoder.span_penalty()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            model.encoder.clamp_spans_()
            schedule.step()
            loss_sum += loss.item() * len(batch)
        probabilities = score_sequences(
            model,
            tokenizer,
            valid.sequences,
            batch_size=config.batch_size,
            device=device,
            pad_to=tokens.shape[1],
        )
        auroc = mean_auroc(valid.labels, probabilities)
        log.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / len(train.sequences),
                "valid_mean_auroc": auroc,
            }
        )
        if auroc > best_auroc:
            best_auroc, best_epoch, stale = auroc, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
            thresholds = [
                best_f1_threshold(valid.labels[:, j], probabilities[:, j])
                for j in range(len(table.profiles))
            ]
        else:
            stale += 1
            if stale >= config.patience:
                logger.info("early stop: no validation gain for %d epochs", stale)
                break
    model.load_state_dict(best_state)

    metadata = {
        "kind": "classifier",
        "task": task,
        "profiles": list(table.profiles),
        "pooling": config.pooling,
        "window_bases": window_bases,
        "thresholds": thresholds,
        "best_epoch": best_epoch,
        "valid_mean_auroc": best_auroc,
        "model": dataclasses.asdict(encoder_config),
        "tokenizer": {"k": tokenizer.k, "stride": tokenizer.stride},
        "finetune": dataclasses.asdict(config),
        "pretrained": None if pretrained is None else str(pretrained),
    }
    return write_model_dir(
        out, model.cpu(), tokenizer, metadata, extra_files={METRICS_FILE: log.write}
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

    Chromatin profiles are rare (1-5% positives): a capped training sample keeps their positives.
    """
    train = cap_rows(
        table.subset("train"), max_train_rows, generator, enrich_positives=task == "chromatin"
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


def _positive_weight(labels: np.ndarray) -> torch.Tensor:
    """Per-output negatives/positives (BCE pos_weight), so rare profiles are not ignored."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    return torch.from_numpy(negatives / np.maximum(positives, 1.0)).float().clamp(max=100.0)
