"""Training policy shared by pretraining and fine-tuning: torchrun processes, precision,
optimizer, schedule, stop signal, RNG state, log (the device: `genomix.runtime`)."""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import random
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from genomix.errors import GenomixError
from genomix.runtime import resolve_device

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Processes:
    """This process's place among the torchrun processes of a training run (alone: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs metrics and writes checkpoints and the model directory."""
        return self.rank == 0

    def share(self, batch_size: int) -> slice:
        """The rows of a global batch this process trains on: contiguous, disjoint, equal."""
        size = batch_size // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def barrier(self) -> None:
        """Wait for every process (no-op alone)."""
        if self.world_size > 1:
            dist.barrier()

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process if `flag` is True on any of them."""
        if self.world_size == 1:
            return flag
        value = torch.tensor([int(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def sum(self, value: float, device: torch.device) -> float:
        """The sum of `value` over the processes."""
        if self.world_size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return float(total.item())


@contextlib.contextmanager
def start_processes(device_name: str) -> Iterator[tuple[Processes, torch.device]]:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on the CPU).

    Yields (processes, device); each process takes the GPU of its LOCAL_RANK. The group is
    destroyed on the way out, also after an error.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        yield Processes(), resolve_device(device_name)
        return
    rank = int(os.environ["RANK"])
    device = resolve_device(device_name, index=int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        logger.info("process %d of %d (%s)", rank, world_size, dist.get_backend())
        yield Processes(rank, world_size), device
    finally:
        dist.destroy_process_group()


def check_precision(precision: str, device: torch.device) -> None:
    """GenomixError unless `precision` can run on `device` (bf16 needs a bf16-capable GPU)."""
    if precision not in PRECISIONS:
        raise GenomixError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and device.type != "cuda":
        raise GenomixError(
            f"precision bf16 needs a CUDA GPU, but training runs on the {device.type}; "
            "use precision fp32"
        )
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise GenomixError(f"{torch.cuda.get_device_name()} has no bfloat16; use precision fp32")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16: bfloat16 autocast (matmuls in bf16, softmax, norms and losses in fp32); fp32: none."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DistributedDataParallel wrappers.

    Its state_dict has the model's own names, without `_orig_mod.` or `module.` prefixes.
    """
    while True:
        if isinstance(model, torch._dynamo.eval_frame.OptimizedModule):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


class TrainingStopped(GenomixError):
    """Training stopped early on a signal, after saving a state that a rerun resumes from."""


class StopSignal:
    """While active, SIGTERM sets `requested` instead of ending the process.

    The training loop checks it after each step, saves its state and stops cleanly; schedulers
    (SLURM, Kubernetes) send SIGTERM before they kill. Outside the main thread, where Python
    cannot install handlers, it does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def module_generators(model: nn.Module) -> dict[str, torch.Generator]:
    """The torch.Generators that modules hold (e.g. BigBird's resampled random blocks), by name."""
    return {
        f"{name}.{attribute}": value
        for name, module in model.named_modules()
        for attribute, value in vars(module).items()
        if isinstance(value, torch.Generator)
    }


def rng_state(generators: Mapping[str, torch.Generator]) -> dict[str, Any]:
    """Every random stream training draws from: torch (CPU and CUDA), numpy, Python, `generators`.

    Only tensors, numbers, strings and containers of them, so it loads with weights_only=True.
    """
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": numpy_state["state"]["pos"],
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        },
        "python": random.getstate(),
        "generators": {name: gen.get_state() for name, gen in generators.items()},
    }


def restore_rng_state(state: Mapping[str, Any], generators: Mapping[str, torch.Generator]) -> None:
    """Put back what `rng_state` returned; the CUDA state goes to the current GPU."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {
                "key": numpy_state["key"].numpy().astype(np.uint32),
                "pos": numpy_state["pos"],
            },
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if set(state["generators"]) != set(generators):
        raise GenomixError(
            f"the saved random generators {sorted(state['generators'])} are not the model's "
            f"{sorted(generators)}"
        )
    for name, generator in generators.items():
        generator.set_state(state["generators"][name])


def restore_training_state(
    state: Mapping[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generators: Mapping[str, torch.Generator],
) -> None:
    """Load a saved training state's weights, optimizer, schedule and random streams."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    restore_rng_state(state["rng"], generators)


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


def open_tensorboard(directory: Path, *, purge_step: int | None = None) -> Any | None:
    """A TensorBoard SummaryWriter logging to `directory`, or None when tensorboard is missing.

    tensorboard is optional; metrics.csv holds the same numbers. `purge_step` (on resume) drops
    the events an interrupted run logged after the state it is resumed from.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(directory), purge_step=purge_step)


def _format(value: float | int | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
