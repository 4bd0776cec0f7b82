"""The built-in handlers ``sleep``, ``echo`` and ``fail``, registered in
:data:`worker.registry.BUILTINS`: every worker has them."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from worker.context import TaskContext


class TaskFailure(Exception):
    """Raised by the built-in ``fail`` handler."""


async def sleep(payload: dict[str, Any], ctx: TaskContext) -> dict[str, float]:
    """``{"seconds": n}``: sleep n seconds (default 1), cancellable; returns ``{"slept": n}``."""
    seconds = payload.get("seconds", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"sleep: 'seconds' must be a number, not {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"sleep: 'seconds' must be a finite number >= 0, not {seconds!r}")
    await asyncio.sleep(seconds)
    return {"slept": seconds}


async def echo(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Returns its payload, which becomes the task's result."""
    return payload


async def fail(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Always raises :class:`TaskFailure`, with ``payload["message"]`` when given."""
    message = payload.get("message", "the built-in 'fail' task always fails")
    raise TaskFailure(str(message))
