"""A task the worker holds (:class:`Running`) and how its attempt ended (:data:`Outcome`)."""

from __future__ import annotations

import asyncio
import functools
import traceback
from dataclasses import dataclass
from time import monotonic
from typing import Any

from taskq.client import Task
from worker.context import CancelReason, TaskContext


@dataclass(frozen=True)
class Succeeded:
    result: Any


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class Cancelled:
    reason: CancelReason


Outcome = Succeeded | Failed | Cancelled


@dataclass(eq=False)
class Running:
    """A task this worker holds, from its claim until its outcome is reported."""

    task: Task
    context: TaskContext
    started: float
    ended: float | None = None
    runner: asyncio.Task[None] | None = None

    @functools.cached_property
    def label(self) -> str:
        task = self.task
        return f"task {task.id} {task.name!r} attempt {task.attempts}/{task.max_attempts}"

    def elapsed(self) -> float:
        """Seconds the handler ran (so far, while it runs)."""
        return (self.ended or monotonic()) - self.started


def describe_error(error: BaseException) -> str:
    """``Type: message`` on the first line (it shows in lists), then the traceback."""
    details = "".join(traceback.format_exception(error)).rstrip()
    return f"{type(error).__name__}: {error}\n\n{details}"


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
