"""The executor: runs a held task's handler and says how the attempt ended.

It talks to no database. :meth:`Executor.run` runs in the one asyncio task the worker gives the
held task: an ``async def`` handler is awaited in it, a plain ``def`` one runs in a daemon
thread whose future it awaits. The task's cancellation (``taskq.cancel``, or the worker leaving
past its grace period) cancels that asyncio task (``context.on_cancel``): an async handler gets
``CancelledError`` at its next ``await``, the wait for a thread ends at once. So does the
attempt's timeout (``Claimed.timeout``, timed from the handler's start): the attempt then fails
with ``timed out after 30s`` and retries as any failure does. A thread cannot be stopped: a
plain ``def`` handler sees ``ctx.cancelled`` turn true, its attempt fails at the timeout all
the same, and what the thread still returns is dropped. The outcome is :class:`Succeeded` with
the result and its JSON text, :class:`Failed` with the error, or :class:`Cancelled` with the
reason.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from taskq.client import Claimed
from worker.outcomes import (
    Failed,
    Outcome,
    Running,
    Succeeded,
    describe_error,
    encode_json,
    stopped,
)
from worker.registry import Handler
from worker.threads import run_in_daemon_thread

# how long a cancelled async handler has to end before the worker reports it without waiting
STUCK_AFTER = 1.0


class Executor:
    """Runs handlers found by ``handler(task_name)`` (None: no handler for that name).

    ``stuck(entry)`` is called when a cancelled handler is still running ``STUCK_AFTER``
    seconds later (it caught ``CancelledError`` and went on): the worker then reports the task
    as its cancellation says without waiting for the handler, whose outcome is dropped."""

    def __init__(
        self,
        handler: Callable[[str], Handler | None],
        *,
        stuck: Callable[[Running], None] | None = None,
    ) -> None:
        self.handler = handler
        self.stuck = stuck

    async def run(self, entry: Running) -> Outcome:
        task, context = entry.task, entry.context
        if task.undecodable:
            return Failed(undecodable_error(task))
        handler = self.handler(task.name)
        if handler is None:
            return Failed(f"no handler registered for '{task.name}'")
        if context.cancel_reason is not None:  # cancelled before it started
            return stopped(entry)
        runner = asyncio.current_task()
        assert runner is not None, "the executor runs in a task"
        context.on_cancel = functools.partial(self._cancel, runner, entry)
        timer = None
        if task.timeout is not None:
            timer = asyncio.get_running_loop().call_later(
                task.timeout.total_seconds(), context.request_cancel, "timeout"
            )
        try:
            if handler.is_async:
                value = await handler.function(task.payload, context)
            else:
                value = await run_in_daemon_thread(
                    handler.function, task.payload, context, name=f"taskq-task-{task.id}"
                )
        except asyncio.CancelledError:
            reason = context.cancel_reason
            if reason is None:
                # not cancelled by the worker: the handler raised it itself
                return Failed("CancelledError: the handler cancelled itself")
            runner.uncancel()
            return stopped(entry)
        except Exception as error:
            reason = context.cancel_reason
            if reason is None:
                return Failed(describe_error(error), error)
            # it raised while being cancelled (perhaps because it was): the cancel stands
            return stopped(entry)
        finally:
            context.on_cancel = None
            if timer is not None:
                timer.cancel()
        # Once the task's cancellation was asked or its timeout passed, whatever the handler
        # still returns is ignored; a handler that finished while the worker was stopping has
        # its result stored.
        if context.cancel_reason in ("cancelled", "timeout"):
            return stopped(entry)
        return json_result(task, value)

    def _cancel(self, runner: asyncio.Task[Any], entry: Running) -> None:
        runner.cancel()
        if self.stuck is not None:
            asyncio.get_running_loop().call_later(STUCK_AFTER, self._check, runner, entry)

    def _check(self, runner: asyncio.Task[Any], entry: Running) -> None:
        # on_cancel is cleared once the handler has ended
        if self.stuck is not None and not runner.done() and entry.context.on_cancel is not None:
            self.stuck(entry)


def json_result(task: Claimed, value: Any) -> Outcome:
    """Succeeded with ``value`` and its JSON text, encoded once; Failed saying why when it is
    not a JSON value. NaN and the infinities, which JSON lacks, are encoded as null."""
    try:
        text = encode_json(value).decode()
    except (TypeError, ValueError, OverflowError) as error:
        return Failed(
            f"{type(error).__name__}: the result of '{task.name}' is not a JSON value: {error}"
        )
    return Succeeded(value, text)


def undecodable_error(task: Claimed) -> str:
    """The error of a task whose row holds values Python cannot represent: it cannot run."""
    return "; ".join(
        f"{column} cannot be decoded: {reason}" for column, reason in task.undecodable.items()
    )
