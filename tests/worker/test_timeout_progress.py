"""Timeouts and progress in the worker: a handler that runs longer than its attempt's timeout
is stopped and the attempt fails (then retries); what a handler reports with
``ctx.report_progress`` reaches the task, coalesced, and a stale report is dropped."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec
import psycopg
import pytest

from taskq import client
from taskq.client import Task
from tests.worker.helpers import await_until, held_entry, running_worker
from worker import Registry, TaskContext
from worker.context import encode_progress
from worker.database import Database
from worker.progress import ProgressWriter

AsyncConn = psycopg.AsyncConnection[Any]


encode = msgspec.json.Encoder().encode


async def reaches(conn: AsyncConn, task_id: UUID, status: str, within: float = 15) -> Task:
    async def probe() -> Task | None:
        found = await client.get_task(conn, task_id)
        return found if found.status == status else None

    return await await_until(probe, within, f"task {task_id} {status}")


async def test_an_async_handler_past_its_timeout_is_cancelled_and_retried(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    cancelled: list[int] = []

    @registry.task("slow")
    async def slow(payload: dict[str, Any], ctx: TaskContext) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(ctx.attempt)
            raise
        return "never"

    # the queue's default timeout reaches the worker through its claim
    await client.set_default_timeout(aconn, "default", timedelta(seconds=0.3))
    async with running_worker(database_url, registry=registry):
        task_id = await client.enqueue(aconn, "slow", max_attempts=2)
        done = await reaches(aconn, task_id, "FAILED")
    assert cancelled == [1, 2]
    assert done.attempts == 2  # the first timeout retried, as any failure
    assert done.last_error == "TimeoutError: timed out after 0.3s"
    assert [e["error"] for e in done.errors] == ["TimeoutError: timed out after 0.3s"] * 2


async def test_a_sync_handler_past_its_timeout_fails_and_its_late_result_is_dropped(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    saw_cancel = threading.Event()
    returned = threading.Event()

    @registry.task("busy")
    def busy(payload: dict[str, Any], ctx: TaskContext) -> str:
        if ctx.wait_cancelled(10):
            saw_cancel.set()
        time.sleep(0.5)  # goes on after the timeout; its result comes too late
        returned.set()
        return "late"

    # the task's own timeout wins over the queue's default
    await client.set_default_timeout(aconn, "default", timedelta(seconds=60))
    async with running_worker(database_url, registry=registry):
        task_id = await client.enqueue(
            aconn, "busy", max_attempts=1, timeout=timedelta(seconds=0.2)
        )
        started = time.monotonic()
        done = await reaches(aconn, task_id, "FAILED")
        failed_after = time.monotonic() - started
        await await_until(
            lambda: asyncio.sleep(0, returned.is_set()), 5, "the thread returned at last"
        )
        await asyncio.sleep(0.1)
        after = await client.get_task(aconn, task_id)
    assert saw_cancel.is_set()  # ctx.cancelled turned true in the thread
    assert done.last_error == "TimeoutError: timed out after 0.2s"
    assert failed_after < 10  # failed at the timeout, not when the thread returned
    assert (after.status, after.result) == ("FAILED", None)


async def test_a_handler_that_ends_in_time_is_untouched(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()

    @registry.task("quick")
    async def quick(payload: dict[str, Any], ctx: TaskContext) -> str:
        await asyncio.sleep(0.05)
        return "in time"

    @registry.task("quick_sync")
    def quick_sync(payload: dict[str, Any], ctx: TaskContext) -> str:
        return "in time too"

    await client.set_default_timeout(aconn, "default", timedelta(seconds=5))
    async with running_worker(database_url, registry=registry):
        first = await client.enqueue(aconn, "quick")
        second = await client.enqueue(aconn, "quick_sync")
        one = await reaches(aconn, first, "COMPLETED")
        two = await reaches(aconn, second, "COMPLETED")
    assert (one.result, one.attempts, one.errors) == ("in time", 1, [])
    assert (two.result, two.attempts, two.errors) == ("in time too", 1, [])


async def progress_writes(conn: AsyncConn) -> None:
    """Count the writes of taskq.tasks.progress in progress_writes (the test's own table)."""
    await conn.execute(
        """
        CREATE TABLE public.progress_writes (task_id uuid, progress jsonb);
        CREATE FUNCTION public.count_progress() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
            INSERT INTO public.progress_writes VALUES (NEW.id, NEW.progress);
            RETURN NEW;
        END $$;
        CREATE TRIGGER count_progress AFTER UPDATE OF progress ON taskq.tasks
        FOR EACH ROW WHEN (NEW.progress IS DISTINCT FROM OLD.progress)
        EXECUTE FUNCTION public.count_progress();
        """
    )


async def test_progress_is_written_coalesced_and_the_last_value_kept(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    gate = asyncio.Event()
    bad: list[str] = []

    @registry.task("counts")
    async def counts(payload: dict[str, Any], ctx: TaskContext) -> str:
        for n in range(1, 1001):
            ctx.report_progress({"done": n, "of": 1000})
        await gate.wait()
        for value in ("x" * 9000, {"at": object()}):
            try:
                ctx.report_progress(value)
            except (TypeError, ValueError) as error:
                bad.append(str(error))
        ctx.report_progress({"done": "all"})  # the last one, just before the end
        return "ok"

    @registry.task("counts_in_thread")
    def counts_in_thread(payload: dict[str, Any], ctx: TaskContext) -> None:
        for n in range(1, 501):
            ctx.report_progress(n)

    await progress_writes(aconn)
    async with running_worker(database_url, registry=registry):
        task_id = await client.enqueue(aconn, "counts")

        async def shown() -> Task | None:
            found = await client.get_task(aconn, task_id)
            return found if found.progress == {"done": 1000, "of": 1000} else None

        running = await await_until(shown, 10, "the progress of the running task")
        assert running.status == "RUNNING"
        assert running.progress_at is not None
        gate.set()
        done = await reaches(aconn, task_id, "COMPLETED")
        threaded = await client.enqueue(aconn, "counts_in_thread")
        other = await reaches(aconn, threaded, "COMPLETED")
    # kept after the task finished; the last report, made as the handler ended, is not lost
    assert done.progress == {"done": "all"}
    assert other.progress == 500
    assert bad == [
        "progress must be at most 8192 bytes of JSON, not 9002",
        "progress must be a JSON value: Encoding objects of type object is unsupported",
    ]
    cur = await aconn.execute(
        "SELECT count(*) FROM public.progress_writes WHERE task_id = %s", (task_id,)
    )
    row = await cur.fetchone()
    assert row is not None
    # 1,001 reports: the first write, the latest value a second later, the last one
    assert 2 <= row[0] <= 4, row[0]


async def test_a_stale_progress_is_dropped_and_the_others_written(
    db: Database, aconn: AsyncConn
) -> None:
    await client.set_concurrency(aconn, "default", None)
    worker_id = await client.register_worker(aconn, "progress-test")
    for _ in range(2):
        await client.enqueue(aconn, "job")
    # the stale value is written after the live one: it must not overwrite it
    old = [held_entry(t) for t in await client.claim_next(aconn, worker_id, batch_size=2)]
    # the worker's claims were lost (handed back) and a task claimed again: old tokens are stale
    await client.unregister_worker(aconn, worker_id)
    worker_id = await client.register_worker(aconn, "progress-test")
    [again] = await client.claim_next(aconn, worker_id)
    [stale] = [entry for entry in old if entry.task.id == again.id]
    live_entry = held_entry(again)
    writer = ProgressWriter(db, every=0.01)
    for entry, value in ((live_entry, "live"), (stale, "stale")):
        entry.context.on_progress = lambda e=entry: writer.mark(e)
        entry.context.report_progress(value)
    await writer.flush([stale, live_entry])
    assert (await client.get_task(aconn, again.id)).progress == "live"
    assert stale.context.take_progress() == (False, None)  # dropped, not kept for a retry


async def test_the_worker_measures_a_progress_value_as_the_database_does(aconn: AsyncConn) -> None:
    # compact JSON under 8192 bytes that PostgreSQL writes over it (a space after each "," and
    # ":"), one on each side of the limit, and strings holding the separators
    values: list[Any] = [
        {f"k{n:04}": n for n in range(600)},
        list(range(1700)),
        [{"a": 1, "b": [1, 2]}] * 400,
        ["x, y: z" * 10] * 100,
        ["a" * 8186],
        ["a" * 8187],
        {"s": "a" * 8185},
    ]
    for value in values:
        cur = await aconn.execute("SELECT octet_length(%s::jsonb::text)", (encode(value).decode(),))
        row = await cur.fetchone()
        assert row is not None
        if row[0] > 8192:
            with pytest.raises(ValueError, match=f"not {row[0]}$"):
                encode_progress(value)
        else:
            assert encode_progress(value) == encode(value).decode()
