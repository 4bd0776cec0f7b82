"""The handler registry, the built-in handlers and the task context (no database)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import uuid4

import pytest

import worker
from worker import Registry, TaskContext, Worker, task
from worker.builtins import TaskFailure, echo, fail, sleep


def make_context(**changes: Any) -> TaskContext:
    fields: dict[str, Any] = {
        "task_id": uuid4(),
        "name": "t",
        "queue": "default",
        "attempt": 1,
        "max_attempts": 3,
        "payload": {},
        "worker_id": uuid4(),
    }
    fields.update(changes)
    return TaskContext(**fields)


def test_task_decorator_registers_async_and_sync_handlers() -> None:
    registry = Registry()

    @registry.task("send_email")
    async def send_email(payload: dict[str, Any], ctx: TaskContext) -> None:
        return None

    @registry.task()
    def resize(payload: dict[str, Any], ctx: TaskContext) -> None:
        return None

    assert registry.names() == ["resize", "send_email"]
    found = registry.get("send_email")
    assert found is not None
    assert found.function is send_email
    assert found.is_async
    found = registry.get("resize")
    assert found is not None
    assert found.function is resize
    assert not found.is_async
    assert "nope" not in registry
    assert registry.get("nope") is None


def test_a_name_takes_one_handler() -> None:
    registry = Registry()

    def first(payload: dict[str, Any], ctx: TaskContext) -> None:
        return None

    def second(payload: dict[str, Any], ctx: TaskContext) -> None:
        return None

    registry.register("job", first)
    registry.register("job", first)  # the same function again: a module imported twice
    with pytest.raises(ValueError, match="already has a handler"):
        registry.register("job", second)
    with pytest.raises(ValueError, match="non-empty"):
        registry.register(" ", first)


def test_module_level_task_uses_the_default_registry() -> None:
    name = f"tests.registry.{uuid4()}"

    @task(name)
    async def handler(payload: dict[str, Any], ctx: TaskContext) -> None:
        return None

    assert name in worker.registry
    assert {"sleep", "echo", "fail"} <= set(worker.registry.names())


def test_builtins_are_always_there_even_with_an_own_registry() -> None:
    mine = Registry()

    @mine.task("echo")
    def my_echo(payload: dict[str, Any], ctx: TaskContext) -> str:
        return "mine"

    w = Worker("postgresql://unused", registry=mine)
    assert w.handler_names() == ["echo", "fail", "sleep"]
    own = w.handler("echo")
    assert own is not None
    assert own.function is my_echo
    builtin = w.handler("sleep")
    assert builtin is not None
    assert builtin.function is sleep
    assert w.handler("missing") is None


async def test_builtin_handlers() -> None:
    ctx = make_context()
    assert await echo({"a": [1, 2]}, ctx) == {"a": [1, 2]}
    assert await sleep({"seconds": 0.01}, ctx) == {"slept": 0.01}
    with pytest.raises(ValueError, match="'seconds' must be"):
        await sleep({"seconds": "soon"}, ctx)
    with pytest.raises(ValueError, match=">= 0"):
        await sleep({"seconds": -1}, ctx)
    with pytest.raises(TaskFailure, match="on purpose"):
        await fail({"message": "on purpose"}, ctx)


async def test_context_cancellation_reaches_both_worlds() -> None:
    ctx = make_context()
    assert not ctx.cancelled
    assert ctx.wait_cancelled(0.01) is False
    waiter = threading.Thread(target=ctx.wait_cancelled, args=(5,))
    waiter.start()
    pending = ctx.cancellation()
    assert not pending.done()
    ctx.request_cancel("cancelled")
    assert pending.done()
    ctx.request_cancel("shutdown")  # the first reason wins
    waiter.join(5)
    assert not waiter.is_alive()
    assert ctx.cancelled
    assert ctx.cancel_reason == "cancelled"
    await asyncio.wait_for(ctx.cancel_event.wait(), 1)
    await asyncio.wait_for(ctx.cancellation(), 1)


def test_worker_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Worker("postgresql://unused", concurrency=0)
    with pytest.raises(ValueError, match="queue"):
        Worker("postgresql://unused", queues=[])
    with pytest.raises(ValueError, match="positive"):
        Worker("postgresql://unused", lease=0)
