"""A server that takes no writes (a standby, the old primary back as one, or a database made
read-only) is a lost connection to the worker: every call is retried on a new connection, no
outcome is dropped, the worker never exits.

The database is made read-only for new sessions with ``ALTER DATABASE ... SET
default_transaction_read_only = on``; every write then fails with SQLSTATE 25006
(read_only_sql_transaction), the code a hot standby answers too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

from taskq import client
from taskq.errors import Unavailable
from tests.conftest import database_name
from tests.worker.helpers import await_until, gated_registry, running_worker
from tests.worker.test_worker_loop import finished, reaches
from tests.worker.test_worker_resilience import terminate_worker_backends
from worker import Worker
from worker.database import Database

AsyncConn = psycopg.AsyncConnection[Any]


async def read_only(conn: AsyncConn, database_url: str, on: bool) -> None:
    """New sessions of the test's database take writes (``on`` False) or refuse them."""
    name = database_name(database_url)
    setting = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    await conn.execute(f'ALTER DATABASE "{name}" {setting}')


async def test_a_read_only_server_is_unavailable_not_an_error_of_the_call(
    database_url: str,
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SET default_transaction_read_only = on")
        with pytest.raises(Unavailable) as raised:
            await client.enqueue(conn, "echo")
    assert raised.value.sqlstate == "25006"


async def test_the_worker_drops_a_read_only_connection_and_uses_a_writable_one(
    database_url: str, aconn: AsyncConn
) -> None:
    await read_only(aconn, database_url, on=True)
    lost = asyncio.Event()
    database = Database(database_url, size=1, connect_timeout=5, answers_lost=lost)
    await database.open()
    try:
        with pytest.raises(Unavailable):
            await database(client.enqueue, "echo")
        assert lost.is_set()
        await read_only(aconn, database_url, on=False)
        # the one pooled connection was read-only for good (its session began so): a call
        # succeeds only on a new one
        task_id = await database(client.enqueue, "echo")
    finally:
        await database.close()
    assert (await client.get_task(aconn, task_id)).status == "QUEUED"


async def test_a_worker_started_on_a_read_only_server_waits_for_a_writable_one(
    database_url: str, aconn: AsyncConn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="taskq.worker")
    await read_only(aconn, database_url, on=True)
    worker = Worker(database_url, poll=0.5, connect_timeout=1)
    job = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.5)
        assert not job.done(), "the worker exited on a read-only server"
        assert not worker.ready.is_set()
        assert "cannot register" in caplog.text
        await read_only(aconn, database_url, on=False)
        await asyncio.wait_for(worker.ready.wait(), timeout=15)
        task_id = await client.enqueue(aconn, "echo", {"after": "read-only"})
        done = await finished(aconn, task_id, within=10)
    finally:
        worker.stop()
        await asyncio.wait_for(job, timeout=worker.grace + 20)
    assert done.status == "COMPLETED"
    assert done.result == {"after": "read-only"}


async def test_an_outcome_refused_by_a_read_only_server_is_reported_once_one_is_writable(
    database_url: str, aconn: AsyncConn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="taskq.worker")
    gate = asyncio.Event()
    registry = gated_registry(gate)
    async with running_worker(database_url, connect_timeout=1, registry=registry) as w:
        task_id = await client.enqueue(aconn, "gated")
        await reaches(aconn, task_id, "RUNNING")
        # the worker's connections come back read-only, as on a standby
        await read_only(aconn, database_url, on=True)
        try:
            await terminate_worker_backends(aconn)
            gate.set()
            await await_until(
                lambda: asyncio.sleep(0, "cannot report the outcome" in caplog.text),
                10,
                "the report was refused and is retried",
            )
            await asyncio.sleep(0.5)
            assert w.running == 1, "the outcome was dropped"
            assert (await client.get_task(aconn, task_id)).status == "RUNNING"
        finally:
            await read_only(aconn, database_url, on=False)
        done = await finished(aconn, task_id, within=15)
    assert done.status == "COMPLETED"
    assert done.result == "done"
    assert done.attempts == 1
    assert "outcome was refused" not in caplog.text
