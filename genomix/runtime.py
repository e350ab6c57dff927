"""Where and how a command runs, shared by training and inference: the torch device and whether
progress bars show. Nothing here trains, so inference commands need not import training code."""

from __future__ import annotations

import logging

import torch

from genomix.errors import GenomixError

logger = logging.getLogger(__name__)


def resolve_device(name: str, *, index: int | None = None) -> torch.device:
    """'auto' -> cuda when present, else cpu; 'cuda' without a GPU is an error. Logs the choice.

    `index` picks one GPU (a torchrun process's LOCAL_RANK); it is ignored on the CPU.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise GenomixError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    elif name not in ("cpu", "cuda"):
        raise GenomixError(f"device '{name}' is not one of auto, cpu, cuda")
    if name == "cuda" and index is not None:
        if index >= torch.cuda.device_count():
            raise GenomixError(
                f"process {index} of this node needs GPU {index}, but torch sees "
                f"{torch.cuda.device_count()}; start at most that many processes per node"
            )
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    else:
        device = torch.device(name)
    logger.info(
        "device: %s%s", device, f" ({torch.cuda.get_device_name()})" if name == "cuda" else ""
    )
    return device


def hide_progress(progress: bool | None) -> bool | None:
    """tqdm's `disable` for a progress choice: None = show only when stderr is a terminal."""
    return None if progress is None else not progress
