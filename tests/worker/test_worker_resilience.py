"""The worker survives its connections being killed and its registration vanishing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

from taskq import client
from tests.conftest import PgServer, database_name
from tests.worker.helpers import await_until, gated_registry, running_worker
from tests.worker.test_worker_loop import finished, reaches

AsyncConn = psycopg.AsyncConnection[Any]

TERMINATE_WORKER_BACKENDS = """
SELECT pid, application_name, pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name LIKE 'taskq-worker%%'
"""
LISTENER_PID = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'taskq-worker-listen'
"""


async def terminate_worker_backends(conn: AsyncConn) -> dict[int, str]:
    rows = await (await conn.execute(TERMINATE_WORKER_BACKENDS)).fetchall()
    return {int(pid): str(name) for pid, name, _ in rows}


async def listener_pid(conn: AsyncConn) -> int | None:
    row = await (await conn.execute(LISTENER_PID)).fetchone()
    return None if row is None else int(row[0])


async def test_killed_connections_are_replaced_and_listen_comes_back(
    database_url: str, aconn: AsyncConn
) -> None:
    async with running_worker(database_url, poll=60):
        before = await listener_pid(aconn)
        assert before is not None
        killed = await terminate_worker_backends(aconn)
        assert "taskq-worker-listen" in killed.values()
        assert "taskq-worker" in killed.values()

        async def new_listener() -> int | None:
            pid = await listener_pid(aconn)
            return pid if pid not in (None, before) else None

        await await_until(new_listener, 10, "the LISTEN connection is back")
        await asyncio.sleep(0.3)
        # the worker is idle with a 60 s poll: a fast start needs the new LISTEN connection
        task_id = await client.enqueue(aconn, "echo", {"after": "terminate"})
        done = await finished(aconn, task_id, within=10)
    assert done.status == "COMPLETED"
    assert done.result == {"after": "terminate"}
    assert done.started_at is not None
    assert (done.started_at - done.created_at).total_seconds() < 1.0


async def test_a_running_task_is_completed_after_its_connection_was_killed(
    database_url: str, aconn: AsyncConn
) -> None:
    async with running_worker(database_url):
        task_id = await client.enqueue(aconn, "sleep", {"seconds": 1.0})
        await reaches(aconn, task_id, "RUNNING")
        assert await terminate_worker_backends(aconn)
        done = await finished(aconn, task_id, within=15)
    assert done.status == "COMPLETED"
    assert done.attempts == 1
    assert done.errors == []


async def test_a_worker_whose_row_vanished_registers_again(
    database_url: str, aconn: AsyncConn
) -> None:
    async with running_worker(database_url, poll=0.5) as w:
        first_id = w.worker_id
        assert first_id is not None
        assert await client.unregister_worker(aconn, first_id) == 0
        task_id = await client.enqueue(aconn, "echo")
        done = await finished(aconn, task_id, within=10)
        assert w.worker_id not in (None, first_id)
    assert done.status == "COMPLETED"
    assert done.worker_id == w.worker_id


async def test_an_outcome_is_reported_once_the_database_accepts_connections_again(
    pg_server: PgServer, database_url: str, aconn: AsyncConn, caplog: pytest.LogCaptureFixture
) -> None:
    database = database_name(database_url)
    admin = await psycopg.AsyncConnection.connect(pg_server.admin_url, autocommit=True)
    caplog.set_level(logging.WARNING, logger="taskq.worker")
    # the handler ends when the test says so: only once the worker is shut out
    gate = asyncio.Event()
    registry = gated_registry(gate)
    # connect_timeout 0.5 s: a call waits that long for a connection, then is retried
    async with running_worker(database_url, connect_timeout=0.5, registry=registry) as w:
        task_id = await client.enqueue(aconn, "gated")
        await reaches(aconn, task_id, "RUNNING")
        # shut the worker out: new connections refused, its open ones terminated
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            await terminate_worker_backends(aconn)
            gate.set()
            await asyncio.sleep(1.5)  # the handler has ended; its report must wait
            assert w.running == 1
            assert (await client.get_task(aconn, task_id)).status == "RUNNING"
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            await admin.close()
        done = await finished(aconn, task_id, within=15)
    assert done.status == "COMPLETED"
    assert done.result == "done"
    assert done.attempts == 1
    assert "cannot report the outcome of 1 task(s)" in caplog.text


async def test_a_claim_whose_answer_was_lost_is_run_all_the_same(
    database_url: str, aconn: AsyncConn
) -> None:
    # The claim commits, the connection dies before the rows reach the worker: the task is
    # RUNNING under the worker's id and its heartbeats would keep it leased for ever.
    async with running_worker(database_url, concurrency=1, poll=60) as w:
        busy = await client.enqueue(aconn, "sleep", {"seconds": 1.0})
        await reaches(aconn, busy, "RUNNING")
        lost = await client.enqueue(aconn, "echo", {"lost": True})
        assert w.worker_id is not None
        claimed = await client.claim_next(aconn, w.worker_id)  # the answer the worker never got
        assert [task.id for task in claimed] == [lost]
        await terminate_worker_backends(aconn)
        done = await finished(aconn, lost, within=10)
    assert done.status == "COMPLETED"
    assert done.result == {"lost": True}
    assert done.attempts == 1
    assert (await client.get_task(aconn, busy)).status == "COMPLETED"
