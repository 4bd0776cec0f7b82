"""Waiting in the worker: :func:`wait_event`, and :class:`ReconnectDelay` between retries."""

from __future__ import annotations

import asyncio
import random


class ReconnectDelay:
    """How long to wait before retrying a call or a connection: ``first`` seconds, doubling up
    to ``most``, with jitter. (Not ``taskq.backoff``: that is the SQL's delay between a task's
    attempts.)"""

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self.first = first
        self.most = most
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.most)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.first


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True when it is set.

    Not ``asyncio.wait_for``: on Python 3.11 a cancellation that arrives just as its timeout
    fires comes out as TimeoutError, and a loop that treats a timeout as normal would never end.
    """
    if event.is_set():
        await asyncio.sleep(0)  # still a point where other tasks run
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(seconds, 0))
    finally:
        waiter.cancel()
    return event.is_set()
