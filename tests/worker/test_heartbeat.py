"""The heartbeat alone: it extends the leases, and stops the handlers of cancelled tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg

from taskq import client
from taskq.client import Task
from tests.worker.helpers import await_until, held_entry
from worker.database import Database
from worker.heartbeat import Heartbeat
from worker.outcomes import Running
from worker.registration import Registration

AsyncConn = psycopg.AsyncConnection[Any]


@asynccontextmanager
async def beating(
    db: Database, registration: Registration, held: dict[UUID, Running]
) -> AsyncIterator[Heartbeat]:
    heartbeat = Heartbeat(db, registration, lease=60, held=held, now=asyncio.Event())
    loop = asyncio.create_task(heartbeat.run())
    try:
        yield heartbeat
    finally:
        loop.cancel()
        await asyncio.wait({loop})


async def test_a_beat_extends_the_leases_of_the_held_tasks_only(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    for _ in range(2):
        await client.enqueue(aconn, "job")
    lease = timedelta(seconds=5)
    held, dropped = await client.claim_next(aconn, registration.id, lease=lease, batch_size=2)
    async with beating(db, registration, {held.id: held_entry(held)}) as heartbeat:
        heartbeat.now.set()

        async def extended_by(task: Task) -> timedelta:
            row = await client.get_task(aconn, task.id)
            assert row.lease_expires_at is not None
            assert task.lease_expires_at is not None
            return row.lease_expires_at - task.lease_expires_at

        async def extended() -> bool:
            return await extended_by(held) > timedelta(seconds=50)

        await await_until(extended, 5, "the lease extended by the heartbeat's 60 s")
        # a task the worker does not hold (it dropped it) keeps its lease, and is rescued
        assert await extended_by(dropped) == timedelta(0)


async def test_a_cancelled_task_has_its_handler_asked_to_stop(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    for _ in range(2):
        await client.enqueue(aconn, "job")
    tasks = await client.claim_next(aconn, registration.id, batch_size=2)
    held = {task.id: held_entry(task) for task in tasks}
    cancelled, going_on = tasks
    await client.cancel(aconn, cancelled.id)
    async with beating(db, registration, held) as heartbeat:
        heartbeat.now.set()
        context = held[cancelled.id].context
        await await_until(lambda: asyncio.sleep(0, context.cancelled), 5, "cancel reaches it")
    assert context.cancel_reason == "cancelled"
    assert not held[going_on.id].context.cancelled


async def test_a_heartbeat_whose_worker_vanished_registers_it_again(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    first = registration.id
    await client.unregister_worker(aconn, first)
    async with beating(db, registration, {}) as heartbeat:
        heartbeat.now.set()
        await await_until(
            lambda: asyncio.sleep(0, registration.worker_id != first), 5, "registered again"
        )
    workers = await (await aconn.execute("SELECT id FROM taskq.workers")).fetchall()
    assert [row[0] for row in workers] == [registration.id]
