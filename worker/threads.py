"""Run a plain ``def`` handler in a daemon thread and await its outcome.

``asyncio.to_thread`` uses the loop's default executor, whose threads are joined when the
loop and the interpreter shut down: a handler that never returns would keep a stopping worker
alive for ever. A thread cannot be killed, but a daemon thread does not hold the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import Any


def run_in_daemon_thread(
    function: Callable[..., Any], *args: Any, name: str
) -> asyncio.Future[Any]:
    """Start ``function(*args)`` in a new daemon thread, with a copy of the current context; the
    returned future gets its result or exception. Cancelling the future only stops the waiting:
    the thread runs on, and its outcome is dropped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(value)
        elif isinstance(error, StopIteration):
            # a Future refuses StopIteration (it would confuse generators): wrap it
            future.set_exception(RuntimeError(f"handler raised StopIteration({error})"))
        else:
            future.set_exception(error)

    def target() -> None:
        try:
            outcome = functools.partial(settle, context.run(function, *args), None)
        except BaseException as error:
            outcome = functools.partial(settle, None, error)
        # RuntimeError: the loop is closed, nobody waits for this outcome any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(outcome)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future
