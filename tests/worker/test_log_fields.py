"""The worker's log lines of one task carry its fields (``extra=``, what ``--log-format json``
shows): the lines of a cancellation, of a handler that goes on after it, and of an outcome the
database refused, as well as those of its start and its end."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

from taskq import client
from tests.worker.helpers import await_until, running_worker
from worker import Registry, TaskContext


async def test_every_line_of_a_task_carries_its_fields(
    database_url: str, aconn: psycopg.AsyncConnection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()

    @registry.task("tests.stubborn")
    async def stubborn(payload: dict[str, Any], ctx: TaskContext) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(2)  # goes on after the cancel: reported without waiting

    @registry.task("tests.robbed")
    async def robbed(payload: dict[str, Any], ctx: TaskContext) -> None:
        await asyncio.sleep(1)

    await client.set_concurrency(aconn, "default", None)
    cancelled = await client.enqueue(aconn, "tests.stubborn")
    caplog.set_level(logging.INFO, logger="taskq.worker")
    async with running_worker(database_url, registry=registry, lease=1.0):
        await await_until(lambda: _is(aconn, cancelled, "RUNNING"), 15, "it runs")
        refused = await client.enqueue(aconn, "tests.robbed")
        await await_until(lambda: _is(aconn, refused, "RUNNING"), 15, "it runs")
        # another lease: the worker's outcome of it is refused
        await aconn.execute(
            "UPDATE taskq.tasks SET lease_token = gen_random_uuid() WHERE id = %s", (refused,)
        )
        await client.cancel(aconn, cancelled)
        await await_until(lambda: _is(aconn, cancelled, "CANCELLED"), 15, "it was cancelled")
        await await_until(
            lambda: _logged(caplog, "outcome was refused"), 15, "the refused outcome logged"
        )
    for task_id, says in (
        (cancelled, ["cancellation asked", "reporting it without waiting"]),
        (refused, ["outcome was refused"]),
    ):
        lines = [r for r in caplog.records if str(task_id) in r.getMessage()]
        for phrase in says:
            assert any(phrase in r.getMessage() for r in lines), [r.getMessage() for r in lines]
        for record in lines:
            assert getattr(record, "task_id", None) == str(task_id), record.getMessage()
            assert "worker" in record.__dict__, record.getMessage()


async def _is(aconn: psycopg.AsyncConnection[Any], task_id: Any, status: str) -> bool:
    return (await client.get_task(aconn, task_id)).status == status


async def _logged(caplog: pytest.LogCaptureFixture, phrase: str) -> bool:
    return any(phrase in r.getMessage() for r in caplog.records)
