"""Fine-tuning task kinds: one registered object per kind (`TASKS`), looked up by name."""

from genomix.tasks.base import LEGACY_NAMES, TASKS, Task, get_task, register_task
from genomix.tasks.binary import BinaryTask
from genomix.tasks.multilabel import MultilabelTask

__all__ = [
    "LEGACY_NAMES",
    "TASKS",
    "BinaryTask",
    "MultilabelTask",
    "Task",
    "get_task",
    "register_task",
]
