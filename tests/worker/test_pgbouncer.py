"""The worker behind PgBouncer in transaction pooling.

Its pooled calls must not use prepared statements there (each transaction may run on another
server connection), and LISTEN cannot work through it (the session that listens is handed to
other clients between transactions): the worker either listens on a direct connection
(``TASKQ_LISTEN_URL``) or, with none, notices the pooler and only polls. Every status is read
on a direct connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from taskq import client
from tests.pgbouncer import PgBouncer
from tests.worker.helpers import (
    WorkerProcess,
    await_until,
    enqueue,
    running_worker,
    status_of,
    wait_until,
)
from worker import Registry, TaskContext

AsyncConn = psycopg.AsyncConnection[Any]
TASKS = 500


@pytest.mark.parametrize("listen", ["poll-only", "TASKQ_LISTEN_URL"])
async def test_a_worker_behind_pgbouncer_drains_500_tasks_each_completed_once(
    database_url: str, pooled_database_url: str, aconn: AsyncConn, listen: str
) -> None:
    runs: Counter[UUID] = Counter()
    registry = Registry()

    @registry.task("pooled.count")
    async def count(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        runs[ctx.task_id] += 1
        return {"n": payload["n"]}

    await client.set_concurrency(aconn, "pooled", None)
    ids = await client.enqueue_many(
        aconn,
        [{"name": "pooled.count", "queue": "pooled", "payload": {"n": n}} for n in range(TASKS)],
    )
    listen_url = database_url if listen == "TASKQ_LISTEN_URL" else None
    async with running_worker(
        pooled_database_url,
        queues=["pooled"],
        concurrency=8,
        registry=registry,
        poll=0.5,
        listen_url=listen_url,
    ):

        async def all_done() -> bool:
            rows = await aconn.execute(
                "SELECT count(*) FROM taskq.tasks WHERE queue = 'pooled' AND status = 'COMPLETED'"
            )
            row = await rows.fetchone()
            return row is not None and row[0] == TASKS

        await await_until(all_done, 120, f"{TASKS} tasks COMPLETED behind PgBouncer", 0.2)
    rows = await aconn.execute(
        "SELECT id, status::text, attempts, result FROM taskq.tasks WHERE queue = 'pooled'"
    )
    found = {row[0]: row[1:] for row in await rows.fetchall()}
    assert set(found) == set(ids)
    assert {status for status, _, _ in found.values()} == {"COMPLETED"}
    assert {attempts for _, attempts, _ in found.values()} == {1}
    assert sorted(result["n"] for _, _, result in found.values()) == list(range(TASKS))
    assert set(runs) == set(ids)
    assert set(runs.values()) == {1}, "a handler ran twice"


async def test_behind_pgbouncer_without_a_listen_url_the_worker_only_polls(
    pooled_database_url: str,
    aconn: AsyncConn,
    pgbouncer: PgBouncer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taskq.worker")
    log_before = len(pgbouncer.log())
    async with running_worker(pooled_database_url, poll=0.3) as worker:
        assert worker.poll_only
        ready = [r.getMessage() for r in caplog.records if " ready: " in r.getMessage()]
        assert len(ready) == 1
        assert "polls every 0.3s" in ready[0]
        assert "connection pooler" in caplog.text
        # an idle worker finds each new task by polling
        for n in range(5):
            await asyncio.sleep(0.4)
            task_id = await client.enqueue(aconn, "echo", {"n": n})

            async def done(task_id: UUID = task_id) -> bool:
                return (await client.get_task(aconn, task_id)).status == "COMPLETED"

            await await_until(done, 15, f"task {n} COMPLETED by polling")
        # NOTIFYs reach no session through the pooler: nothing LISTENs there
        for _ in range(3):
            await aconn.execute("NOTIFY taskq_cancel, 'nobody'")
        await asyncio.sleep(0.5)
    assert "from server when not linked" not in pgbouncer.log()[log_before:]


def test_with_taskq_listen_url_a_worker_behind_pgbouncer_wakes_on_notify(
    database_url: str,
    pooled_database_url: str,
    conn: psycopg.Connection[tuple[Any, ...]],
    tmp_path: Path,
) -> None:
    # --poll 60: only a NOTIFY, which comes over TASKQ_LISTEN_URL, explains a start within 15 s
    with WorkerProcess(
        pooled_database_url,
        tmp_path / "worker.log",
        "--poll",
        "60",
        env={"TASKQ_LISTEN_URL": database_url},
    ) as worker:
        worker.wait_ready(conn)
        for n in range(3):
            task_id = enqueue(conn, "echo", {"n": n})

            def completed(task_id: UUID = task_id) -> bool:
                return status_of(conn, task_id) == "COMPLETED"

            wait_until(completed, 15, f"task {n} COMPLETED after its NOTIFY")
        assert "wakes on NOTIFY" in worker.log().split(" ready: ", 1)[1].splitlines()[0]
