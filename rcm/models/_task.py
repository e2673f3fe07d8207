"""The tasks a model can do: the one list every registry, file and config check uses."""

from __future__ import annotations

import enum


class Task(str, enum.Enum):
    """What a model does with its input.

    A `str` so that model files and summaries store the plain value and
    ``task == "classifier"`` still holds.
    """

    CLASSIFIER = "classifier"
    DETECTOR = "detector"
    SEGMENTER = "segmenter"
    PHOTO_CLASSIFIER = "photo-classifier"  # one clinical photograph -> category probabilities
    PHOTO_DETECTOR = "photo-detector"  # one clinical photograph -> lesion boxes

    # Hash, print and format as the plain value, so a Task and its string are
    # interchangeable as dict keys and in messages.
    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def parse(cls, value: str) -> Task:
        """The task named `value` (a `Task` or its string).

        Raises:
            ValueError: If `value` names no task; the message lists the tasks.

        """
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {value!r}") from None


TASKS: tuple[str, ...] = tuple(task.value for task in Task)
WINDOW_TASKS: tuple[Task, ...] = (Task.DETECTOR, Task.SEGMENTER)
MOSAIC_TASKS: tuple[Task, ...] = (Task.CLASSIFIER, *WINDOW_TASKS)
PHOTO_TASKS: tuple[Task, ...] = (Task.PHOTO_CLASSIFIER, Task.PHOTO_DETECTOR)
