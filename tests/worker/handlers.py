"""Handlers for worker processes started by the tests: ``--import tests.worker.handlers``."""

from __future__ import annotations

import threading
from typing import Any

from worker import TaskContext, task


@task("tests.add")
async def add(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"sum": payload["a"] + payload["b"], "attempt": ctx.attempt}


@task("tests.thread")
def in_thread(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"thread": threading.current_thread().name, "task_id": str(ctx.task_id)}


@task("tests.boom")
def boom(payload: dict[str, Any], ctx: TaskContext) -> None:
    raise ValueError(f"boom on attempt {ctx.attempt}")


@task("tests.current_span")
async def current_span(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """The span context the handler runs in (OpenTelemetry's API, no SDK in this process)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return {"valid": context.is_valid, "trace_id": f"{context.trace_id:032x}"}


@task("tests.collector")
async def collector(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """How the worker process's garbage collector is set."""
    import gc

    return {"threshold": list(gc.get_threshold()), "frozen": gc.get_freeze_count()}


@task("tests.event_loop")
async def event_loop(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """The class of the event loop the handler runs on."""
    import asyncio

    loop = type(asyncio.get_running_loop())
    return {"loop": f"{loop.__module__}.{loop.__qualname__}"}
