"""A task the worker holds (:class:`Running`) and how its attempt ended (:data:`Outcome`)."""

from __future__ import annotations

import asyncio
import traceback
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Literal

import msgspec

from taskq.client import Claimed
from worker.context import TaskContext


@dataclass(frozen=True)
class Succeeded:
    """The handler returned ``result``; ``json`` is its JSON text, encoded once by
    :func:`worker.executor.json_result` (None: not encoded yet)."""

    result: Any
    json: str | None = field(default=None, compare=False, repr=False)

    @property
    def json_text(self) -> str:
        """The result as JSON text (encoded now when it was not yet)."""
        return self.json if self.json is not None else encode_json(self.result).decode()


#: JSON bytes of a Python value, by msgspec (TypeError for what JSON cannot hold)
encode_json = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Failed:
    """The attempt failed with ``error`` (its text as stored); ``exception`` is what the handler
    raised, when it raised (the handler's span records it)."""

    error: str
    exception: BaseException | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Cancelled:
    reason: Literal["cancelled", "shutdown"]


Outcome = Succeeded | Failed | Cancelled


@dataclass(eq=False, slots=True)
class Running:
    """A task this worker holds, from its claim until its outcome is reported."""

    task: Claimed
    context: TaskContext
    started: float
    ended: float | None = None
    runner: asyncio.Task[None] | None = None
    #: its handler ignored a cancellation: the worker reported the task without waiting for it,
    #: and drops whatever the handler still returns
    abandoned: bool = False

    @property
    def label(self) -> str:
        task = self.task
        return f"task {task.id} {task.name!r} attempt {task.attempts}/{task.max_attempts}"

    def elapsed(self) -> float:
        """Seconds the handler ran (so far, while it runs)."""
        return (self.ended or monotonic()) - self.started

    def log_fields(self, *, duration: bool = False) -> dict[str, Any]:
        """The ``extra=`` of a log line about this task, which ``--log-format json`` shows
        (:data:`taskq.logs.TASK_FIELDS`); ``duration``: with the seconds its handler ran. Made
        only for a line that is logged: the caller asks ``isEnabledFor`` first."""
        task = self.task
        fields: dict[str, Any] = {
            "task_id": str(task.id),
            "task_name": task.name,
            "attempt": task.attempts,
            "worker": str(self.context.worker_id),
        }
        if duration:
            fields["duration"] = round(self.elapsed(), 6)
        return fields


def stopped(entry: Running) -> Outcome:
    """How the attempt of a handler the worker stopped ended: a timeout fails it (it retries as
    any failure does), a cancellation or a shutdown cancels it."""
    reason = entry.context.cancel_reason
    assert reason is not None, "only a stopped handler has a reason"
    if reason == "timeout":
        timeout = entry.task.timeout
        assert timeout is not None, "only an attempt with a timeout times out"
        return Failed(f"TimeoutError: timed out after {timeout.total_seconds():g}s")
    return Cancelled(reason)


def describe_error(error: BaseException) -> str:
    """``Type: message`` on the first line (it shows in lists), then the traceback."""
    details = "".join(traceback.format_exception(error)).rstrip()
    return f"{type(error).__name__}: {error}\n\n{details}"


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
