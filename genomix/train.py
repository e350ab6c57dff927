"""Training policy shared by pretraining and fine-tuning: device, optimizer, schedule, log."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from genomix.errors import GenomixError

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; 'cuda' without a GPU is an error. Logs the choice."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise GenomixError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    elif name not in ("cpu", "cuda"):
        raise GenomixError(f"device '{name}' is not one of auto, cpu, cuda")
    device = torch.device(name)
    logger.info(
        "device: %s%s", device, f" ({torch.cuda.get_device_name()})" if name == "cuda" else ""
    )
    return device


def build_optimizer(model: nn.Module, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; biases, LayerNorm weights and embeddings are not decayed (BERT practice)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim < 2 or "embedding" in name:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak rate over `warmup_steps`, then cosine decay to 0 at the end."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def freeze_encoder(model: nn.Module) -> None:
    """Stop gradients into `model.encoder` (call before building the optimizer)."""
    for parameter in model.encoder.parameters():
        parameter.requires_grad_(False)


class MetricsLog:
    """Rows of training metrics, written as CSV (header from the first row's keys)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float | int | str]] = []

    def append(self, row: Mapping[str, float | int | str]) -> None:
        self.rows.append(dict(row))
        logger.info("  ".join(f"{k}={_format(v)}" for k, v in row.items()))

    def write(self, path: Path) -> None:
        fields: list[str] = []
        for row in self.rows:
            fields += [key for key in row if key not in fields]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)


def hide_progress(progress: bool | None) -> bool | None:
    """tqdm's `disable` for a progress choice: None = show only when stderr is a terminal."""
    return None if progress is None else not progress


def _format(value: float | int | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
