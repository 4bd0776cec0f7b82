"""What a handler learns about the task it runs: :class:`TaskContext`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

CancelReason = Literal["cancelled", "shutdown"]

# Guards the lazy creation of a context's threading.Event against a cancel arriving meanwhile.
_FLAG_LOCK = threading.Lock()


class TaskContext:
    """The task a handler runs, and whether it should stop.

    ``cancelled`` turns true when the task's cancellation was asked (``taskq.cancel``) or the
    worker is shutting down past its grace period. An ``async def`` handler is also cancelled
    (``asyncio.CancelledError`` at its next ``await``); a plain ``def`` handler, running in a
    thread, cannot be interrupted: it should look at ``cancelled`` or wait with
    :meth:`wait_cancelled`, and its result is ignored once the task is cancelled.

    The waiting objects are made only when something waits: a ``threading.Event`` when a
    thread calls :meth:`wait_cancelled`, an ``asyncio.Event`` when ``cancel_event`` is read.
    Most handlers never wait, and a context then costs a few attributes.
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
        #: called (on the event loop) by the first :meth:`request_cancel`: the executor sets it
        #: to cancel the asyncio task that runs the handler
        self.on_cancel: Callable[[], object] | None = None
        self._thread_flag: threading.Event | None = None
        self._asyncio_event: asyncio.Event | None = None
        self._waiters: list[asyncio.Future[None]] | None = None

    @property
    def cancelled(self) -> bool:
        """True once the handler should stop: the task was cancelled or the worker is leaving."""
        return self.cancel_reason is not None

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """For a plain ``def`` handler: block up to ``timeout`` seconds, True when cancelled."""
        flag = self._thread_flag
        if flag is None:
            with _FLAG_LOCK:
                flag = self._thread_flag
                if flag is None:
                    flag = self._thread_flag = threading.Event()
                    if self.cancel_reason is not None:
                        flag.set()
        return flag.wait(timeout)

    @property
    def cancel_event(self) -> asyncio.Event:
        """An ``asyncio.Event`` set once the task is cancelled (on the event loop's thread)."""
        if self._asyncio_event is None:
            self._asyncio_event = asyncio.Event()
            if self.cancel_reason is not None:
                self._asyncio_event.set()
        return self._asyncio_event

    def request_cancel(self, reason: CancelReason) -> None:
        """Mark the task cancelled (on the event loop's thread); the first reason wins."""
        if self.cancel_reason is not None:
            return
        self.cancel_reason = reason
        with _FLAG_LOCK:
            flag = self._thread_flag
        if flag is not None:
            flag.set()
        if self._asyncio_event is not None:
            self._asyncio_event.set()
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        self._waiters = None
        if self.on_cancel is not None:
            self.on_cancel()

    def cancellation(self) -> asyncio.Future[None]:
        """A future that resolves once the task is cancelled (at once if it is already).
        Cancelling the future only stops the waiting."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.cancel_reason is not None:
            waiter.set_result(None)
        else:
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
        return waiter

    def __repr__(self) -> str:
        return (
            f"TaskContext(task_id={self.task_id}, name={self.name!r}, "
            f"attempt={self.attempt}/{self.max_attempts}, cancelled={self.cancelled})"
        )
