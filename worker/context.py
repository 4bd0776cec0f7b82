"""What a handler learns about the task it runs: :class:`TaskContext`."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

import msgspec

#: why a handler is asked to stop: the task's cancellation, the worker leaving past its grace
#: period, or the attempt running longer than its timeout
CancelReason = Literal["cancelled", "shutdown", "timeout"]

# Guards the lazy creation of a context's threading.Event against a cancel arriving meanwhile.
_FLAG_LOCK = threading.Lock()
# Guards every context's waiting progress value: one lock for all, since a value is reported
# rarely next to how often a context is made (one per task), and held only to swap two fields.
_PROGRESS_LOCK = threading.Lock()

#: the largest progress value in bytes of JSON text, and its deepest nesting (report_progress)
PROGRESS_MAX_BYTES = 8192
PROGRESS_MAX_DEPTH = 64
_encode_progress = msgspec.json.Encoder().encode
# a JSON string, whose brackets do not nest
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
# the escape of a NUL character (not an escaped backslash before "u0000"): jsonb cannot store it
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def encode_progress(value: Any) -> str:
    """The JSON text of a progress value; TypeError for what JSON cannot hold, ValueError for
    a value over ``PROGRESS_MAX_BYTES``, nested deeper than ``PROGRESS_MAX_DEPTH`` or holding a
    NUL character (which jsonb cannot store)."""
    try:
        text = _encode_progress(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise TypeError(f"progress must be a JSON value: {error}") from None
    if b"\\u0000" in text and _NUL.search(text):
        raise ValueError("progress must not hold a NUL character (\\u0000): jsonb cannot store it")
    size = len(text)
    if 2 * size > PROGRESS_MAX_BYTES:
        # measured as the database measures it (octet_length(progress::text)): jsonb's text
        # puts a space after every "," and ":" outside strings, which the compact text has not
        bare = _JSON_STRING.sub(b"", text)
        size += bare.count(b",") + bare.count(b":")
    if size > PROGRESS_MAX_BYTES:
        raise ValueError(f"progress must be at most {PROGRESS_MAX_BYTES} bytes of JSON, not {size}")
    if text.count(b"[") + text.count(b"{") > PROGRESS_MAX_DEPTH:
        # only then can it nest too deep: measure, outside strings
        depth = deepest = 0
        for byte in _JSON_STRING.sub(b"", text):
            depth += _DEPTH_STEP.get(byte, 0)
            deepest = max(deepest, depth)
        if deepest > PROGRESS_MAX_DEPTH:
            raise ValueError(
                f"progress must be nested at most {PROGRESS_MAX_DEPTH} levels, not {deepest}"
            )
    return text.decode()


class TaskContext:
    """The task a handler runs, and whether it should stop.

    ``cancelled`` turns true when the task's cancellation was asked (``taskq.cancel``), the
    worker is shutting down past its grace period, or the attempt ran longer than its timeout
    (``cancel_reason`` says which). An ``async def`` handler is also cancelled
    (``asyncio.CancelledError`` at its next ``await``); a plain ``def`` handler, running in a
    thread, cannot be interrupted: it should look at ``cancelled`` or wait with
    :meth:`wait_cancelled`, and its result is ignored once the task is cancelled.

    :meth:`report_progress` stores a small JSON value on the running task; the worker writes
    the latest one at most once a second.

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
        #: called, from any thread, when a progress value waits where there was none: the worker
        #: sets it to have the value written
        self.on_progress: Callable[[], object] | None = None
        self._progress: str | None = None
        self._progress_waiting = False

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

    def report_progress(self, value: Any) -> None:
        """Store ``value`` (a JSON value, at most 8192 bytes of JSON text and 64 levels deep;
        None clears it) as the task's progress. Cheap and never blocking, from an ``async def``
        handler or a thread: the worker writes the latest value at most once a second, and
        before the task's outcome. TypeError / ValueError for a value it cannot store."""
        text = None if value is None else encode_progress(value)
        with _PROGRESS_LOCK:
            self._progress = text
            notify = not self._progress_waiting
            self._progress_waiting = True
        if notify and self.on_progress is not None:
            self.on_progress()

    def take_progress(self) -> tuple[bool, str | None]:
        """For the worker: (True, the JSON text) of the progress that waits to be written (and
        no longer waits), or (False, None)."""
        with _PROGRESS_LOCK:
            waiting, text = self._progress_waiting, self._progress
            self._progress_waiting = False
            self._progress = None
        return waiting, text

    def restore_progress(self, text: str | None) -> None:
        """For the worker: a taken value it could not write waits again, unless a newer one
        arrived meanwhile."""
        with _PROGRESS_LOCK:
            if not self._progress_waiting:
                self._progress, self._progress_waiting = text, True

    def __repr__(self) -> str:
        return (
            f"TaskContext(task_id={self.task_id}, name={self.name!r}, "
            f"attempt={self.attempt}/{self.max_attempts}, cancelled={self.cancelled})"
        )
