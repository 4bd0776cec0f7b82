"""The registration alone, and the database-call function it uses."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from taskq import client
from taskq.errors import NotFound, Unavailable
from worker.database import Database
from worker.registration import Registration

AsyncConn = psycopg.AsyncConnection[Any]


def registration_of(db: Database, stopping: asyncio.Event | None = None) -> Registration:
    return Registration(
        db,
        name="reg-test",
        queues=["default", "mail"],
        task_names=["echo", "send"],
        stopping=stopping or asyncio.Event(),
        connect_timeout=0.5,
    )


async def test_register_writes_the_row_and_unregister_hands_tasks_back(
    aconn: AsyncConn, db: Database
) -> None:
    registration = registration_of(db)
    assert await registration.register()
    row = await (
        await aconn.execute(
            "SELECT name, queues, task_names FROM taskq.workers WHERE id = %s",
            (registration.id,),
        )
    ).fetchone()
    assert row == ("reg-test", ["default", "mail"], ["echo", "send"])
    task_id = await client.enqueue(aconn, "echo")
    await client.claim_next(aconn, registration.id)
    await registration.unregister()
    assert (await client.get_task(aconn, task_id)).status == "QUEUED"
    await registration.unregister()  # gone already: a warning, not an error


async def test_reregister_replaces_a_vanished_row_once(aconn: AsyncConn, db: Database) -> None:
    registration = registration_of(db)
    assert await registration.register()
    gone = registration.id
    await client.unregister_worker(aconn, gone)
    await asyncio.gather(registration.reregister(gone), registration.reregister(gone))
    workers = await (await aconn.execute("SELECT id FROM taskq.workers")).fetchall()
    assert [row[0] for row in workers] == [registration.id]
    assert registration.id != gone


async def test_a_stopped_worker_does_not_register() -> None:
    stopping = asyncio.Event()
    away = database_away()
    await away.open()
    try:
        registration = registration_of(away, stopping)
        trying = asyncio.create_task(registration.register())
        await asyncio.sleep(0.5)
        assert not trying.done()  # the database is away: retrying
        stopping.set()
        assert await asyncio.wait_for(trying, 5) is False
        assert registration.worker_id is None
    finally:
        await away.close()


async def test_the_database_call_sorts_errors(db: Database) -> None:
    unknown = UUID("00000000-0000-7000-8000-000000000000")
    with pytest.raises(NotFound):
        await db(client.heartbeat, unknown, timedelta(seconds=30))
    assert not db.answers_lost.is_set()  # the database answered
    away = database_away()
    await away.open()
    try:
        with pytest.raises(Unavailable):
            await away(client.get_task, unknown)
        assert away.answers_lost.is_set()
    finally:
        await away.close()


def database_away() -> Database:
    """A database-call function whose database never answers (nothing listens on port 1)."""
    url = "postgresql://127.0.0.1:1/none"
    return Database(url, size=1, connect_timeout=0.2, answers_lost=asyncio.Event())
