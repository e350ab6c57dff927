"""The step schedule: batches worked out by hand, validation and save steps, resume mid-epoch."""

from __future__ import annotations

import pytest
import torch

from genomix.errors import GenomixError
from genomix.steps import StepSchedule


def _schedule(**options) -> StepSchedule:
    settings = {"batch_size": 4, "epochs": 2, "generator": torch.Generator().manual_seed(0)}
    return StepSchedule(10, **{**settings, **options})


def _run(schedule: StepSchedule, *, until: int | None = None) -> list[tuple[int, list[int]]]:
    """(epoch, rows) per step trained, stopping after step `until`."""
    taken = []
    for epoch, batches in schedule.epoch_batches():
        for batch in batches:
            schedule.advance()
            taken.append((epoch, batch.tolist()))
            if schedule.step == until:
                return taken
    return taken


def test_epochs_are_permutations_cut_into_batches() -> None:
    taken = _run(_schedule())
    # 10 rows in batches of 4: 3 steps (4, 4, 2 rows) per epoch, 2 epochs.
    assert [epoch for epoch, _ in taken] == [1, 1, 1, 2, 2, 2]
    assert [len(rows) for _, rows in taken] == [4, 4, 2] * 2
    for epoch in (1, 2):
        rows = [row for e, batch in taken if e == epoch for row in batch]
        assert sorted(rows) == list(range(10))
    generator = torch.Generator().manual_seed(0)
    first, second = (torch.randperm(10, generator=generator).tolist() for _ in range(2))
    assert [row for _, batch in taken for row in batch] == first + second


def test_max_steps_ends_mid_epoch_and_runs_past_epochs() -> None:
    schedule = _schedule(max_steps=7, epochs=1)
    taken = _run(schedule)
    assert [epoch for epoch, _ in taken] == [1, 1, 1, 2, 2, 2, 3]
    assert (schedule.total_steps, schedule.epochs, schedule.epoch) == (7, 3, 3)


def test_validation_and_save_steps() -> None:
    schedule = _schedule(max_steps=7, eval_every=2, checkpoint_every=3)
    validates, saves = [], []
    for _, batches in schedule.epoch_batches():
        for _ in batches:
            schedule.advance()
            validates += [schedule.step] if schedule.validates() else []
            saves += [schedule.step] if schedule.saves() else []
    assert validates == [2, 4, 6, 7]  # and always the last step
    assert saves == [3, 6]  # never the last step: the model directory follows
    by_epoch = _schedule()
    flags = []
    for _, batches in by_epoch.epoch_batches():
        for _ in batches:
            by_epoch.advance()
            flags.append((by_epoch.validates(), by_epoch.saves()))
    # Defaults: validate at each epoch's end, save there too except after the last step.
    assert flags == [(False, False), (False, False), (True, True)] + [
        (False, False),
        (False, False),
        (True, False),
    ]


@pytest.mark.parametrize("stop_after", [1, 2, 3, 4])
def test_resumed_schedule_takes_the_same_rows(stop_after: int) -> None:
    expected = _run(_schedule(max_steps=6))
    first = _schedule(max_steps=6)
    taken = _run(first, until=stop_after)
    state, generator_state = first.state_dict(), first.generator.get_state()
    resumed = _schedule(max_steps=6, generator=torch.Generator().manual_seed(99))
    resumed.load_state_dict(state)
    resumed.generator.set_state(generator_state)
    assert taken + _run(resumed) == expected


def test_bad_settings() -> None:
    with pytest.raises(GenomixError, match="max_steps, eval_every and checkpoint_every"):
        _schedule(eval_every=-1)
