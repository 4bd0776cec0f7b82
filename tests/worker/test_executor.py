"""The executor alone: a claimed task's handler run, and the outcome it gives."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgspec
import psycopg

from taskq import client
from tests.worker.helpers import held_entry
from worker import Registry, TaskContext
from worker.executor import Executor
from worker.outcomes import Cancelled, Failed, Outcome, Running, Succeeded
from worker.registry import BUILTINS

AsyncConn = psycopg.AsyncConnection[Any]
registry = Registry(BUILTINS)
cleaned_up = asyncio.Event()
thread_saw_cancel = threading.Event()


@registry.task("add")
async def add(payload: dict[str, Any], ctx: TaskContext) -> int:
    return int(payload["a"]) + int(payload["b"])


@registry.task("in_thread")
def in_thread(payload: dict[str, Any], ctx: TaskContext) -> str:
    return threading.current_thread().name


@registry.task("not_json")
async def not_json(payload: dict[str, Any], ctx: TaskContext) -> Any:
    return {"at": object()}


@registry.task("wait_long")
async def wait_long(payload: dict[str, Any], ctx: TaskContext) -> str:
    try:
        await asyncio.sleep(60)
    finally:
        cleaned_up.set()
    return "never"


@registry.task("wait_in_thread")
def wait_in_thread(payload: dict[str, Any], ctx: TaskContext) -> str:
    if ctx.wait_cancelled(60):
        thread_saw_cancel.set()
    return "ignored once cancelled"


@registry.task("gives_up")
async def gives_up(payload: dict[str, Any], ctx: TaskContext) -> None:
    raise asyncio.CancelledError


async def claimed(aconn: AsyncConn, name: str, payload: dict[str, Any] | None = None) -> Running:
    await client.set_concurrency(aconn, "default", None)
    await client.enqueue(aconn, name, payload)
    worker_id = await client.register_worker(aconn, "executor-test")
    [task] = await client.claim_next(aconn, worker_id)
    return held_entry(task)


async def run(entry: Running) -> Outcome:
    return await asyncio.wait_for(Executor(registry.get).run(entry), 10)


async def test_handlers_give_their_results(aconn: AsyncConn) -> None:
    assert await run(await claimed(aconn, "add", {"a": 2, "b": 3})) == Succeeded(5)
    assert await run(await claimed(aconn, "echo", {"x": [1]})) == Succeeded({"x": [1]})
    threaded = await run(await claimed(aconn, "in_thread"))
    assert isinstance(threaded, Succeeded)
    assert threaded.result.startswith("taskq-task-")  # a plain def runs in a thread of its own


async def test_failures_say_why(aconn: AsyncConn) -> None:
    raised = await run(await claimed(aconn, "fail", {"message": "on purpose"}))
    assert isinstance(raised, Failed)
    assert raised.error.splitlines()[0] == "TaskFailure: on purpose"
    assert "Traceback" in raised.error
    unknown = await run(await claimed(aconn, "nobody_handles_this"))
    assert unknown == Failed("no handler registered for 'nobody_handles_this'")
    odd = await run(await claimed(aconn, "not_json"))
    assert isinstance(odd, Failed)
    assert "the result of 'not_json' is not a JSON value" in odd.error
    itself = await run(await claimed(aconn, "gives_up"))
    assert itself == Failed("CancelledError: the handler cancelled itself")


async def test_an_undecodable_task_is_failed_unrun(aconn: AsyncConn) -> None:
    entry = await claimed(aconn, "add", {"a": 1, "b": 1})
    entry.task = msgspec.structs.replace(entry.task, undecodable={"payload": "bad bytes"})
    assert await run(entry) == Failed("payload cannot be decoded: bad bytes")


async def test_a_cancelled_task_stops_its_handler(aconn: AsyncConn) -> None:
    cleaned_up.clear()
    entry = await claimed(aconn, "wait_long")
    running = asyncio.create_task(run(entry))
    await asyncio.sleep(0.05)
    entry.context.request_cancel("cancelled")
    assert await running == Cancelled("cancelled")
    assert cleaned_up.is_set()  # the async handler was cancelled and ran its finally block


async def test_a_thread_handler_sees_the_cancel_and_its_result_is_ignored(
    aconn: AsyncConn,
) -> None:
    thread_saw_cancel.clear()
    entry = await claimed(aconn, "wait_in_thread")
    running = asyncio.create_task(run(entry))
    await asyncio.sleep(0.05)
    entry.context.request_cancel("cancelled")
    assert await running == Cancelled("cancelled")
    assert await asyncio.to_thread(thread_saw_cancel.wait, 5)


async def test_a_handler_interrupted_by_the_shutdown_is_handed_back(aconn: AsyncConn) -> None:
    entry = await claimed(aconn, "wait_long")
    running = asyncio.create_task(run(entry))
    await asyncio.sleep(0.05)
    entry.context.request_cancel("shutdown")
    assert await running == Cancelled("shutdown")
