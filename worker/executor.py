"""The executor: runs a held task's handler and says how the attempt ended.

It talks to no database. An ``async def`` handler runs on the event loop, a plain ``def`` one in
a daemon thread; either is watched beside the task's cancellation (``taskq.cancel``, or the
worker leaving past its grace period). The outcome is :class:`Succeeded` with a JSON result,
:class:`Failed` with the error, or :class:`Cancelled` with the reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from taskq.client import Task
from worker.outcomes import Cancelled, Failed, Outcome, Running, Succeeded, describe_error
from worker.registry import Handler
from worker.threads import run_in_daemon_thread


class Executor:
    """Runs handlers found by ``handler(task_name)`` (None: no handler for that name)."""

    def __init__(self, handler: Callable[[str], Handler | None]) -> None:
        self.handler = handler

    async def run(self, entry: Running) -> Outcome:
        task, context = entry.task, entry.context
        if task.undecodable:
            return Failed(undecodable_error(task))
        handler = self.handler(task.name)
        if handler is None:
            return Failed(f"no handler registered for '{task.name}'")
        running: asyncio.Future[Any]
        if handler.is_async:
            running = asyncio.ensure_future(handler.function(task.payload, context))
        else:
            running = run_in_daemon_thread(
                handler.function, task.payload, context, name=f"taskq-task-{task.id}"
            )
        asked = context.cancellation()
        try:
            await asyncio.wait({running, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
        reason = context.cancel_reason
        finished = running.done() and not running.cancelled()
        # Once the task's cancellation was asked, whatever the handler still returns is ignored.
        if finished and reason != "cancelled":
            error = running.exception()
            if error is None:
                return json_result(task, running.result())
            if reason is None:
                return Failed(describe_error(error))
            # it raised while the worker was stopping (perhaps because it was): hand it back
        elif reason is None:
            return Failed("CancelledError: the handler cancelled itself")
        elif not running.done():
            running.cancel()  # an async handler stops at its next await; a thread cannot
            if handler.is_async:
                # let it run its cleanup (finally blocks), but do not wait on one that hangs
                await asyncio.wait({running}, timeout=1.0)
        return Cancelled(reason)


def json_result(task: Task, value: Any) -> Outcome:
    """Succeeded with ``value`` when it is a JSON value, else Failed saying why."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        return Failed(
            f"{type(error).__name__}: the result of '{task.name}' is not a JSON value: {error}"
        )
    return Succeeded(value)


def undecodable_error(task: Task) -> str:
    """The error of a task whose row holds values Python cannot represent: it cannot run."""
    return "; ".join(
        f"{column} cannot be decoded: {reason}" for column, reason in task.undecodable.items()
    )
