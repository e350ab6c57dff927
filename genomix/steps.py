"""The step schedule of fine-tuning: which rows each step trains on, when to validate and save.

Training is counted in optimizer steps. Each epoch is one seeded permutation of the training
rows, cut into batches; `max_steps` (when > 0) ends training at that step, mid-epoch if need be,
and otherwise `epochs` whole epochs are run. Validation comes every `eval_every` steps (0 = at
the end of every epoch) and at the last step; the training state is saved every
`checkpoint_every` steps (0 = at every validation), except at the last step, where the model
directory follows.

The schedule's own state is the number of steps done and the current epoch's permutation, so a
run resumed from a state saved mid-epoch takes the same rows in the same order as one that was
never stopped (the permutation is not redrawn: the rows generator has moved on since).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from genomix.errors import GenomixError

__all__ = ["StepSchedule"]


class StepSchedule:
    """Batches of row indices per step, and the steps that validate and save.

    Args:
        n_rows: training rows N.
        batch_size: rows per step (the last batch of an epoch may be smaller).
        epochs: whole epochs to run when `max_steps` is 0.
        max_steps: steps to run (0 = `epochs` epochs).
        eval_every: validate every this many steps (0 = at the end of each epoch).
        checkpoint_every: save every this many steps (0 = at each validation).
        generator: draws each epoch's permutation of the N rows.
    """

    def __init__(
        self,
        n_rows: int,
        *,
        batch_size: int,
        epochs: int,
        max_steps: int = 0,
        eval_every: int = 0,
        checkpoint_every: int = 0,
        generator: torch.Generator,
    ) -> None:
        if n_rows < 1 or batch_size < 1 or epochs < 1:
            raise GenomixError(
                f"steps: need n_rows, batch_size and epochs >= 1 (got {n_rows}, {batch_size}, "
                f"{epochs})"
            )
        if min(max_steps, eval_every, checkpoint_every) < 0:
            raise GenomixError(
                f"steps: max_steps, eval_every and checkpoint_every must be >= 0 (got "
                f"{max_steps}, {eval_every}, {checkpoint_every})"
            )
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.steps_per_epoch = -(-n_rows // batch_size)
        self.total_steps = max_steps or self.steps_per_epoch * epochs
        self.epochs = -(-self.total_steps // self.steps_per_epoch)
        self.eval_every = eval_every or self.steps_per_epoch
        self.checkpoint_every = checkpoint_every or self.eval_every
        self.generator = generator
        self.step = 0
        self.order: torch.Tensor | None = None

    @property
    def epoch(self) -> int:
        """The 1-based epoch of the step done last (0 before the first)."""
        return -(-self.step // self.steps_per_epoch)

    def epoch_batches(self) -> Iterator[tuple[int, list[torch.Tensor]]]:
        """(epoch, its batches still to train) from the current step to the last one.

        Each batch is a (B,) long tensor of row indices. Call `advance()` after every step
        trained: the next epoch's batches are drawn when this iterator moves on.
        """
        while self.step < self.total_steps:
            position = self.step % self.steps_per_epoch
            if position == 0 or self.order is None:
                self.order = torch.randperm(self.n_rows, generator=self.generator)
            stop = min(self.steps_per_epoch, position + self.total_steps - self.step)
            yield (
                self.step // self.steps_per_epoch + 1,
                list(self.order.split(self.batch_size))[position:stop],
            )

    def advance(self) -> None:
        """Count one step as done."""
        self.step += 1

    def validates(self) -> bool:
        """Whether the step done last is followed by validation."""
        return self.step % self.eval_every == 0 or self.step == self.total_steps

    def saves(self) -> bool:
        """Whether the step done last is followed by saving the training state."""
        return self.step % self.checkpoint_every == 0 and self.step < self.total_steps

    def state_dict(self) -> dict[str, Any]:
        """Steps done and the current epoch's permutation (tensors and ints only)."""
        return {"step": self.step, "order": self.order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.order = int(state["step"]), state["order"]
