"""Handlers for the bench's taskq workers: ``taskq worker --import bench.handlers``."""

from __future__ import annotations

import time
from typing import Any

from worker import TaskContext, task


@task("bench.noop")
async def noop(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Does nothing: a drain measures the queue, not the work."""
    return None


@task("bench.stamp")
async def stamp(payload: dict[str, Any], ctx: TaskContext) -> dict[str, float]:
    """Returns the wall-clock time the handler started, for the latency figures."""
    return {"started": time.time()}
