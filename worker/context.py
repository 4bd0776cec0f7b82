"""What a handler learns about the task it runs: :class:`TaskContext`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal
from uuid import UUID

CancelReason = Literal["cancelled", "shutdown"]


class TaskContext:
    """The task a handler runs, and whether it should stop.

    ``cancelled`` turns true when the task's cancellation was asked (``taskq.cancel``) or the
    worker is shutting down past its grace period. An ``async def`` handler is also cancelled
    (``asyncio.CancelledError`` at its next ``await``); a plain ``def`` handler, running in a
    thread, cannot be interrupted: it should look at ``cancelled`` or wait with
    :meth:`wait_cancelled`, and its result is ignored once the task is cancelled.
    """

    def __init__(
        self,
        *,
        task_id: UUID,
        name: str,
        queue: str,
        attempt: int,
        max_attempts: int,
        payload: dict[str, Any],
        worker_id: UUID,
    ) -> None:
        self.task_id = task_id
        self.name = name
        self.queue = queue
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.payload = payload
        self.worker_id = worker_id
        self.cancel_reason: CancelReason | None = None
        # Two flags for two worlds: the event loop awaits the asyncio one, threads the other.
        self.cancel_event = asyncio.Event()
        self._thread_flag = threading.Event()
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def cancelled(self) -> bool:
        """True once the handler should stop: the task was cancelled or the worker is leaving."""
        return self._thread_flag.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """For a plain ``def`` handler: block up to ``timeout`` seconds, True when cancelled."""
        return self._thread_flag.wait(timeout)

    def request_cancel(self, reason: CancelReason) -> None:
        """Mark the task cancelled (on the event loop's thread); the first reason wins."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self._thread_flag.set()
        self.cancel_event.set()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def cancellation(self) -> asyncio.Future[None]:
        """A future that resolves once the task is cancelled (at once if it is already): the
        worker waits on it beside the handler. Cancelling the future only stops the waiting."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.cancel_reason is not None:
            waiter.set_result(None)
        else:
            self._waiters.append(waiter)
        return waiter

    def __repr__(self) -> str:
        return (
            f"TaskContext(task_id={self.task_id}, name={self.name!r}, "
            f"attempt={self.attempt}/{self.max_attempts}, cancelled={self.cancelled})"
        )
