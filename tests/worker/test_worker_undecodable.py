"""A claimed task whose payload the worker cannot decode (nested deeper than any JSON decoder
goes) is failed with a readable error, its slot freed, while the good tasks of the same claim
batch run; the worker goes on. A time Python cannot represent in a column the worker does not
read (a claim returns only the columns it needs) does not stop the task from running.

Such rows are written with UPDATE on the private table: the SQL functions refuse them at
enqueue, but rows written before that check, or by a future bug, must not stop the queue."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from taskq import client
from tests.worker.helpers import await_until, running_worker
from tests.worker.test_worker_loop import finished

AsyncConn = psycopg.AsyncConnection[Any]

QUEUE = "batch"
# 3,000 levels: past the recursion limit of both msgspec and the standard json module
DEEP_PAYLOAD = """(repeat('{"a":', 3000) || '1' || repeat('}', 3000))::jsonb"""

BUSY_SLOTS = "SELECT count(*) FROM taskq.slots WHERE queue = %s AND task_id IS NOT NULL"


async def spoil(conn: AsyncConn, task_id: UUID, assignment: str) -> None:
    """Write what enqueue refuses straight into the task's row."""
    await conn.execute(f"UPDATE taskq.tasks SET {assignment} WHERE id = %s", (task_id,))


async def busy_slots(conn: AsyncConn) -> int:
    row = await (await conn.execute(BUSY_SLOTS, (QUEUE,))).fetchone()
    assert row is not None
    return int(row[0])


async def test_an_undecodable_payload_in_a_batch_is_failed_and_the_rest_runs(
    database_url: str, aconn: AsyncConn
) -> None:
    await client.set_concurrency(aconn, QUEUE, 4)
    good = [await client.enqueue(aconn, "echo", {"n": n}, queue=QUEUE) for n in range(3)]
    bad = await client.enqueue(aconn, "echo", {"n": "bad"}, queue=QUEUE, max_attempts=1)
    await spoil(aconn, bad, f"payload = {DEEP_PAYLOAD}")
    # capacity 4, four due tasks: the worker's first claim takes them all in one batch
    async with running_worker(database_url, queues=[QUEUE], concurrency=4) as w:
        failed = await finished(aconn, bad)
        done = [await finished(aconn, task_id) for task_id in good]
        # the worker still runs, its capacity whole again
        after = await client.enqueue(aconn, "echo", {"after": True}, queue=QUEUE)
        after_task = await finished(aconn, after)
        assert w.ready.is_set()
        # the row is COMPLETED when the report commits; the worker lets go when it hears back
        await await_until(lambda: asyncio.sleep(0, w.running == 0), 5, "nothing held")
    assert failed.status == "FAILED"
    assert failed.attempts == 1
    assert failed.last_error is not None
    assert failed.last_error.startswith("payload cannot be decoded: ")
    assert "RecursionError" in failed.last_error
    assert "Traceback" not in failed.last_error  # one readable line
    assert failed.undecodable.keys() == {"payload"}
    assert failed.worker_id == w.worker_id  # it was claimed, then failed, by this worker
    for n, task in enumerate(done):
        assert task.status == "COMPLETED"
        assert task.result == {"n": n}
        assert task.worker_id == w.worker_id
    assert after_task.status == "COMPLETED"
    assert await busy_slots(aconn) == 0


@pytest.mark.parametrize(
    ("assignment", "column"),
    [
        ("scheduled_at = '-infinity'", "scheduled_at"),
        ("created_at = '0044-03-15 12:00:00+00 BC'", "created_at"),
        ("created_at = 'infinity'", "created_at"),
    ],
    ids=["minus-infinity", "bc-date", "infinity"],
)
async def test_a_time_python_cannot_hold_in_a_column_the_worker_does_not_read_is_run(
    database_url: str, aconn: AsyncConn, assignment: str, column: str
) -> None:
    await client.set_concurrency(aconn, QUEUE, 4)
    good = [await client.enqueue(aconn, "echo", {"n": n}, queue=QUEUE) for n in range(3)]
    odd = await client.enqueue(aconn, "echo", {"n": "odd"}, queue=QUEUE, max_attempts=1)
    await spoil(aconn, odd, assignment)
    async with running_worker(database_url, queues=[QUEUE], concurrency=4) as w:
        ran = await finished(aconn, odd)
        done = [await finished(aconn, task_id) for task_id in good]
        # the row is COMPLETED when the report commits; the worker lets go when it hears back
        await await_until(lambda: asyncio.sleep(0, w.running == 0), 5, "nothing held")
    assert ran.status == "COMPLETED"
    assert ran.result == {"n": "odd"}
    assert ran.undecodable.keys() == {column}  # the whole row still says what it holds
    assert [task.status for task in done] == ["COMPLETED"] * 3
    assert await busy_slots(aconn) == 0


async def test_an_undecodable_task_with_attempts_left_is_retried_like_any_failure(
    database_url: str, aconn: AsyncConn
) -> None:
    # fail, not the worker, decides what comes next: here a retry after the backoff
    task_id = await client.enqueue(aconn, "echo", {"ok": 1}, queue=QUEUE, max_attempts=3)
    await spoil(aconn, task_id, f"payload = {DEEP_PAYLOAD}")
    async with running_worker(database_url, queues=[QUEUE]):

        async def retried() -> bool:
            task = await client.get_task(aconn, task_id)
            return task.status == "QUEUED" and task.attempts == 1

        await await_until(retried, 15, "the failed attempt is retried")
    done = await client.get_task(aconn, task_id)
    # due again after a backoff counted from the failure
    assert done.scheduled_at > datetime.fromisoformat(done.errors[0]["at"])
    assert done.errors[0]["error"].startswith("payload cannot be decoded: ")


REFUSE_FAIL = """
CREATE FUNCTION public.refuse_undecodable_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = TG_ARGV[0]::uuid AND NEW.last_error LIKE '%cannot be decoded%' THEN
        RAISE EXCEPTION 'the database refuses this outcome'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER refuse_undecodable_fail BEFORE UPDATE ON taskq.tasks
FOR EACH ROW EXECUTE FUNCTION public.refuse_undecodable_fail('{task_id}');
"""


async def test_a_task_whose_failure_is_refused_is_not_renewed_and_is_rescued(
    database_url: str, aconn: AsyncConn
) -> None:
    # The worker cannot decode the row and fails it; the database refuses even that fail. The
    # worker drops the task; its heartbeats renew only the tasks it holds, so the lease runs
    # out and rescue takes the task, instead of it staying RUNNING for ever.
    bad = await client.enqueue(aconn, "echo", {"n": "bad"}, queue=QUEUE, max_attempts=1)
    await spoil(aconn, bad, f"payload = {DEEP_PAYLOAD}")
    await aconn.execute(REFUSE_FAIL.replace("{task_id}", str(bad)))
    # lease 1 s: heartbeats every third of a second, so a renewed lease never runs out
    async with running_worker(database_url, queues=[QUEUE], lease=1.0) as w:

        async def rescued() -> bool:
            await aconn.execute("SELECT taskq.rescue_expired()")
            return (await client.get_task(aconn, bad)).status != "RUNNING"

        async def dropped() -> bool:
            return w.running == 0 and (await client.get_task(aconn, bad)).attempts == 1

        await await_until(dropped, 10, "the worker claimed the task and dropped it")
        await await_until(rescued, 10, "the dropped task's lease ran out and rescue took it")
        # the worker goes on, its slot free again
        after = await finished(aconn, await client.enqueue(aconn, "echo", queue=QUEUE))
    task = await client.get_task(aconn, bad)
    assert task.status == "FAILED"  # its one attempt was the lost one
    assert task.last_error is not None
    assert task.last_error.startswith("lease expired at ")
    assert task.worker_id == w.worker_id
    assert after.status == "COMPLETED"
    assert await busy_slots(aconn) == 0
