"""The worker takes its turn at taskq.maintain: it prunes and removes dead workers, one worker
at a time, and a failed turn is logged and tried again without stopping the worker."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

from taskq import client
from taskq.settings import ConfigError, maintenance_interval_setting
from tests.worker.helpers import await_until, running_worker, wait_until
from worker import Worker

AsyncConn = psycopg.AsyncConnection[Any]
CLAIM_LOCK = "SELECT taskq._claim_lock_key()"


async def old_finished(aconn: AsyncConn, n: int) -> None:
    """n COMPLETED tasks of the default queue, finished 8 days ago (past the default 7 days)."""
    await aconn.execute("SELECT taskq.set_retention('default')")  # the queue, as enqueue makes it
    await aconn.execute(
        "INSERT INTO taskq.tasks (queue, name, status, finished_at) SELECT 'default', 'echo',"
        " 'COMPLETED', clock_timestamp() - interval '8 days' FROM generate_series(1, %s)",
        (n,),
    )


async def count(aconn: AsyncConn, sql: str) -> int:
    cur = await aconn.execute(sql)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_the_worker_prunes_and_removes_dead_workers(
    aconn: AsyncConn, database_url: str
) -> None:
    await old_finished(aconn, 30)
    dead = await client.register_worker(aconn, "dead")
    await client.enqueue(aconn, "echo")
    (task,) = await client.claim_next(aconn, dead)
    await aconn.execute(
        "UPDATE taskq.workers SET heartbeat_at = clock_timestamp() - interval '1 hour'"
        " WHERE id = %s",
        (dead,),
    )
    # silent for an hour, its lease ended long ago (a lease still running would keep it alive)
    await aconn.execute(
        "UPDATE taskq.tasks SET lease_expires_at = clock_timestamp() - interval '59 minutes'"
        " WHERE id = %s",
        (task.id,),
    )
    async with running_worker(database_url, maintenance_interval=0.2) as worker:

        async def done() -> bool:
            left = await count(aconn, "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED'")
            workers = await count(aconn, "SELECT count(*) FROM taskq.workers")
            # the dead worker's task was rescued, then run by this worker
            return left == 1 and workers == 1

        await await_until(done, 15, "the old tasks pruned and the dead worker removed")
        (row,) = await (
            await aconn.execute("SELECT id, attempts FROM taskq.tasks WHERE status = 'COMPLETED'")
        ).fetchall()
        assert row == (task.id, 2)
        assert await count(aconn, "SELECT count(*) FROM taskq.workers") == 1
        assert worker.worker_id is not None
        assert (
            await count(
                aconn, f"SELECT count(*) FROM taskq.workers WHERE id = '{worker.worker_id}'"
            )
            == 1
        )


async def test_two_workers_take_turns_one_at_a_time(aconn: AsyncConn, database_url: str) -> None:
    await old_finished(aconn, 10)
    key = await count(aconn, CLAIM_LOCK)
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        # maintenance held elsewhere (as by a running maintain): the workers' turns do nothing
        await holder.execute("SELECT pg_advisory_xact_lock(%s, 2)", (key,))
        async with (
            running_worker(database_url, maintenance_interval=0.05, name="a") as a,
            running_worker(database_url, maintenance_interval=0.05, name="b") as b,
        ):
            await asyncio.sleep(1.0)
            assert a._maintenance.turns == b._maintenance.turns == 0
            assert await count(aconn, "SELECT count(*) FROM taskq.tasks") == 10
            await holder.rollback()

            async def pruned() -> bool:
                return await count(aconn, "SELECT count(*) FROM taskq.tasks") == 0

            await await_until(pruned, 10, "the old tasks pruned once the lock is free")


async def test_a_failed_turn_is_logged_and_the_worker_goes_on(
    aconn: AsyncConn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await old_finished(aconn, 5)
    await aconn.execute("ALTER FUNCTION taskq.maintain(integer) RENAME TO maintain_away")
    caplog.set_level(logging.WARNING, logger="taskq.worker")
    async with running_worker(database_url, maintenance_interval=0.1) as worker:
        await asyncio.to_thread(
            wait_until,
            lambda: "maintenance failed" in caplog.text,
            10,
            "a warning about the failed turn",
        )
        task_id = await client.enqueue(aconn, "echo")

        async def completed() -> bool:
            return (await client.get_task(aconn, task_id)).status == "COMPLETED"

        await await_until(completed, 10, "the worker goes on claiming")
        await aconn.execute("ALTER FUNCTION taskq.maintain_away(integer) RENAME TO maintain")

        async def pruned() -> bool:
            return await count(aconn, "SELECT count(*) FROM taskq.tasks") == 1

        await await_until(pruned, 10, "the next turn prunes")
        assert worker.ready.is_set()


async def test_interval_zero_never_maintains(aconn: AsyncConn, database_url: str) -> None:
    await old_finished(aconn, 3)
    async with running_worker(database_url, maintenance_interval=0) as worker:
        await asyncio.sleep(0.5)
        assert worker._maintenance.turns == 0
    assert await count(aconn, "SELECT count(*) FROM taskq.tasks") == 3


def test_the_interval_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKQ_MAINTENANCE_INTERVAL", raising=False)
    assert maintenance_interval_setting() == 60.0
    monkeypatch.setenv("TASKQ_MAINTENANCE_INTERVAL", " 0 ")
    assert maintenance_interval_setting() == 0.0
    monkeypatch.setenv("TASKQ_MAINTENANCE_INTERVAL", "2.5")
    assert maintenance_interval_setting() == 2.5
    for bad in ("-1", "inf", "nan", "soon"):
        monkeypatch.setenv("TASKQ_MAINTENANCE_INTERVAL", bad)
        with pytest.raises(ConfigError, match="TASKQ_MAINTENANCE_INTERVAL must be"):
            maintenance_interval_setting()
    with pytest.raises(ValueError, match="maintenance_interval"):
        Worker("postgresql://", maintenance_interval=-1)
