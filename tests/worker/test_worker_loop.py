"""The worker loop in this process against a real PostgreSQL: handlers, results, failures,
retries, cancellation, heartbeats, wake-up latency, scheduled tasks, capacity."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from taskq import client
from taskq.client import Task
from taskq.errors import NotFound
from tests.worker.helpers import await_until, running_worker
from worker import Registry, TaskContext

AsyncConn = psycopg.AsyncConnection[Any]


async def finished(conn: AsyncConn, task_id: UUID, within: float = 10) -> Task:
    """The task once it is COMPLETED, FAILED or CANCELLED."""

    async def probe() -> Task | None:
        found = await client.get_task(conn, task_id)
        return found if found.status in ("COMPLETED", "FAILED", "CANCELLED") else None

    return await await_until(probe, within, f"task {task_id} finished")


async def reaches(
    conn: AsyncConn, task_id: UUID, status: str, within: float = 10, attempts: int = 0
) -> Task:
    async def probe() -> Task | None:
        found = await client.get_task(conn, task_id)
        return found if found.status == status and found.attempts >= attempts else None

    return await await_until(probe, within, f"task {task_id} {status}")


async def test_async_and_sync_handlers_store_their_results(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    threads: dict[str, str] = {}

    @registry.task("add")
    async def add(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        threads["add"] = threading.current_thread().name
        return {"sum": payload["a"] + payload["b"], "attempt": ctx.attempt, "id": str(ctx.task_id)}

    @registry.task("shout")
    def shout(payload: dict[str, Any], ctx: TaskContext) -> str:
        threads["shout"] = threading.current_thread().name
        return str(payload["text"]).upper()

    async with running_worker(database_url, registry=registry):
        added = await client.enqueue(aconn, "add", {"a": 2, "b": 3})
        shouted = await client.enqueue(aconn, "shout", {"text": "hi"})
        echoed = await client.enqueue(aconn, "echo", {"x": [1, None, "y"]})
        added_task = await finished(aconn, added)
        shouted_task = await finished(aconn, shouted)
        echoed_task = await finished(aconn, echoed)

    assert added_task.status == "COMPLETED"
    assert added_task.result == {"sum": 5, "attempt": 1, "id": str(added)}
    assert shouted_task.status == "COMPLETED"
    assert shouted_task.result == "HI"
    assert echoed_task.status == "COMPLETED"
    assert echoed_task.result == {"x": [1, None, "y"]}
    assert threads["add"] == threading.current_thread().name  # on the event loop
    assert threads["shout"] != threading.current_thread().name  # in a thread of its own


async def test_a_raising_handler_is_retried_with_backoff_then_failed(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()

    @registry.task("flaky")
    def flaky(payload: dict[str, Any], ctx: TaskContext) -> None:
        raise ValueError(f"boom on attempt {ctx.attempt}")

    async with running_worker(database_url, registry=registry):
        task_id = await client.enqueue(aconn, "flaky", max_attempts=2)
        # the first failure: QUEUED again, later (taskq.backoff: 2 s +/- 25%)
        retried = await reaches(aconn, task_id, "QUEUED", within=5, attempts=1)
        assert retried.attempts == 1
        assert retried.started_at is not None
        assert retried.scheduled_at - retried.started_at >= timedelta(seconds=1.4)
        assert retried.last_error is not None
        assert retried.last_error.startswith("ValueError: boom on attempt 1")
        done = await finished(aconn, task_id, within=10)

    assert done.status == "FAILED"
    assert done.attempts == 2
    assert done.last_error is not None
    assert done.last_error.startswith("ValueError: boom on attempt 2")
    assert "Traceback (most recent call last)" in done.last_error
    assert 'raise ValueError(f"boom on attempt {ctx.attempt}")' in done.last_error
    assert [e["attempt"] for e in done.errors] == [1, 2]


async def registered_task_names(conn: AsyncConn, worker_id: UUID | None) -> list[str] | None:
    cur = await conn.execute("SELECT task_names FROM taskq.workers WHERE id = %s", (worker_id,))
    row = await cur.fetchone()
    assert row is not None, f"worker {worker_id} is not registered"
    return None if row[0] is None else list(row[0])


async def test_a_task_no_worker_handles_waits_queued_for_one_that_does(
    database_url: str, aconn: AsyncConn
) -> None:
    elsewhere = Registry()

    @elsewhere.task("tests.elsewhere")
    async def handled_elsewhere(payload: dict[str, Any], ctx: TaskContext) -> str:
        return "handled"

    # at the head of the queue, before the tasks this worker handles
    waiting = await client.enqueue(aconn, "tests.elsewhere", priority="HIGH", max_attempts=1)
    async with running_worker(database_url, registry=Registry(), concurrency=2) as w:
        echoes = [await client.enqueue(aconn, "echo", {"n": n}) for n in range(4)]
        for task_id in echoes:
            assert (await finished(aconn, task_id)).status == "COMPLETED"
        left = await client.get_task(aconn, waiting)
        assert await registered_task_names(aconn, w.worker_id) == ["echo", "fail", "sleep"]
        cur = await aconn.execute("SELECT queue, name, queued FROM taskq.unhandled_tasks")
        unhandled = await cur.fetchall()
        stats = {s.queue: s for s in await client.queue_stats(aconn)}["default"]
    assert left.status == "QUEUED"
    assert left.attempts == 0
    assert left.last_error is None
    assert unhandled == [("default", "tests.elsewhere", 1)]
    assert stats.unhandled == 1
    # the worker that has its handler runs it, beside one that has not
    async with (
        running_worker(database_url, registry=Registry()),
        running_worker(database_url, registry=elsewhere),
    ):
        done = await finished(aconn, waiting)
    assert done.status == "COMPLETED"
    assert done.result == "handled"
    assert done.attempts == 1


async def test_a_worker_of_any_name_fails_a_task_without_handler_with_a_clear_error(
    database_url: str, aconn: AsyncConn
) -> None:
    async with running_worker(database_url, registry=Registry(), any_name=True) as w:
        assert await registered_task_names(aconn, w.worker_id) is None  # any name
        task_id = await client.enqueue(aconn, "no.such.task", max_attempts=1)
        done = await finished(aconn, task_id)
        # the worker goes on after it
        after = await client.enqueue(aconn, "echo", {"ok": True})
        after_task = await finished(aconn, after)
    assert done.status == "FAILED"
    assert done.last_error == "no handler registered for 'no.such.task'"
    assert after_task.status == "COMPLETED"


async def test_a_result_that_is_not_json_fails_the_task(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()

    @registry.task("odd")
    async def odd(payload: dict[str, Any], ctx: TaskContext) -> object:
        return {"when": object()}

    async with running_worker(database_url, registry=registry):
        task_id = await client.enqueue(aconn, "odd", max_attempts=1)
        done = await finished(aconn, task_id)
    assert done.status == "FAILED"
    assert done.last_error is not None
    assert "not a JSON value" in done.last_error


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("result", "the result of this attempt could not be stored: "),
        ("error", "the error of this attempt could not be stored: "),
    ],
)
async def test_an_outcome_the_database_refuses_fails_the_task_instead_of_leaving_it_leased(
    database_url: str, aconn: AsyncConn, outcome: str, error: str
) -> None:
    registry = Registry()

    @registry.task("nul")
    async def nul(payload: dict[str, Any], ctx: TaskContext) -> object:
        # PostgreSQL text and jsonb hold no NUL character: complete / fail refuse these
        if payload["outcome"] == "result":
            return {"text": "a\x00b"}
        raise ValueError("a\x00b")

    # lease 1 s: heartbeats renew it three times a second; an unreported task would stay RUNNING
    async with running_worker(database_url, registry=registry, lease=1.0) as w:
        ids = await client.enqueue_many(
            aconn,
            [{"name": "nul", "payload": {"outcome": outcome}, "max_attempts": 1}]
            + [{"name": "echo", "payload": {"n": n}} for n in range(3)],
        )
        done = await finished(aconn, ids[0], within=10)
        others = [await finished(aconn, task_id) for task_id in ids[1:]]
        await await_until(lambda: asyncio.sleep(0, w.running == 0), 5, "nothing held")
    assert done.status == "FAILED"
    assert done.last_error is not None
    assert done.last_error.startswith(error)
    if outcome == "error":
        assert done.last_error.endswith("it began: ValueError: a\\x00b")
    assert [task.status for task in others] == ["COMPLETED"] * 3


async def test_cancelling_a_running_async_task_cancels_its_handler(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    seen: list[str] = []
    started = asyncio.Event()

    @registry.task("long")
    async def long(payload: dict[str, Any], ctx: TaskContext) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append(f"cancelled={ctx.cancelled}")
            raise

    # lease 30 s: heartbeats every 10 s, so an end within 3 s shows the taskq_cancel NOTIFY path
    async with running_worker(database_url, registry=registry, lease=30) as w:
        task_id = await client.enqueue(aconn, "long")
        await asyncio.wait_for(started.wait(), 10)
        asked = await client.cancel(aconn, task_id)
        assert asked.status == "RUNNING"
        assert asked.cancel_requested
        done = await finished(aconn, task_id, within=3)
        await await_until(lambda: asyncio.sleep(0, w.running == 0), 5, "the runner is gone")
    assert done.status == "CANCELLED"
    assert done.attempts == 1
    assert seen == ["cancelled=True"]


async def test_cancelling_a_running_sync_task(database_url: str, aconn: AsyncConn) -> None:
    registry = Registry()
    seen: list[bool] = []
    started = threading.Event()

    @registry.task("polling")
    def polling(payload: dict[str, Any], ctx: TaskContext) -> str:
        started.set()
        # a plain def handler cannot be interrupted: it looks at its context
        seen.append(ctx.wait_cancelled(30))
        return "ignored"

    async with running_worker(database_url, registry=registry):
        task_id = await client.enqueue(aconn, "polling")
        await asyncio.to_thread(started.wait, 10)
        await client.cancel(aconn, task_id)
        done = await finished(aconn, task_id, within=3)
    assert done.status == "CANCELLED"
    assert done.result is None
    await await_until(lambda: asyncio.sleep(0, seen), 5, "the thread saw the cancellation")
    assert seen == [True]


async def test_a_handler_that_ignores_its_cancellation_does_not_hold_the_task(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    started = asyncio.Event()
    ended = asyncio.Event()

    @registry.task("stubborn")
    async def stubborn(payload: dict[str, Any], ctx: TaskContext) -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(60)  # goes on regardless
        ended.set()
        return "too late"

    async with running_worker(database_url, registry=registry, grace=0.5) as w:
        task_id = await client.enqueue(aconn, "stubborn")
        await asyncio.wait_for(started.wait(), 10)
        await client.cancel(aconn, task_id)
        done = await finished(aconn, task_id, within=5)
        await await_until(lambda: asyncio.sleep(0, w.running == 0), 5, "the task is let go")
        after = await finished(aconn, await client.enqueue(aconn, "echo"))
    assert done.status == "CANCELLED"
    assert done.result is None
    assert not ended.is_set()  # reported without waiting for the handler
    assert after.status == "COMPLETED"


async def test_a_handler_that_ends_frees_its_place_before_its_report_commits(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    first_gate, later_gate = asyncio.Event(), asyncio.Event()

    @registry.task("first")
    async def first(payload: dict[str, Any], ctx: TaskContext) -> None:
        await first_gate.wait()

    @registry.task("later")
    async def later(payload: dict[str, Any], ctx: TaskContext) -> None:
        await later_gate.wait()

    await client.set_concurrency(aconn, "default", None)
    async with running_worker(database_url, registry=registry, concurrency=2):
        blocked = await client.enqueue(aconn, "first")
        await reaches(aconn, blocked, "RUNNING")
        # another transaction holds the task's row: its report waits for that lock
        async with await psycopg.AsyncConnection.connect(database_url) as holder:
            await holder.execute("SELECT 1 FROM taskq.tasks WHERE id = %s FOR UPDATE", (blocked,))
            first_gate.set()
            others = [await client.enqueue(aconn, "later") for _ in range(2)]
            # both places are free once the first handler ended, though its report waits
            for task_id in others:
                await reaches(aconn, task_id, "RUNNING")
            assert (await client.get_task(aconn, blocked)).status == "RUNNING"
            await holder.rollback()
        later_gate.set()
        for task_id in [blocked, *others]:
            assert (await finished(aconn, task_id)).status == "COMPLETED"


async def test_heartbeats_keep_the_lease_of_a_long_task(
    database_url: str, aconn: AsyncConn
) -> None:
    # The lease is 1 s and the task takes 2.5 s; meanwhile other claims (which rescue expired
    # leases) run. Without heartbeats the task would be rescued and its completion refused.
    async with running_worker(database_url, lease=1.0, concurrency=4) as w:
        long_id = await client.enqueue(aconn, "sleep", {"seconds": 2.5})
        await reaches(aconn, long_id, "RUNNING")
        for _ in range(4):
            await asyncio.sleep(0.5)
            await client.enqueue(aconn, "echo")
        done = await finished(aconn, long_id)
        assert w.worker_id is not None
    assert done.status == "COMPLETED"
    assert done.attempts == 1
    assert done.errors == []


async def test_an_idle_worker_starts_a_new_task_within_milliseconds(
    database_url: str, aconn: AsyncConn
) -> None:
    # poll 60 s: only the NOTIFY can explain a start within 200 ms
    latencies: list[float] = []
    async with running_worker(database_url, poll=60):
        for _ in range(7):
            await asyncio.sleep(0.3)  # idle: the claim loop is asleep
            task_id = await client.enqueue(aconn, "echo")
            done = await finished(aconn, task_id, within=10)
            assert done.started_at is not None
            latencies.append((done.started_at - done.created_at).total_seconds())
    assert statistics.median(latencies) < 0.2, latencies
    assert max(latencies) < 1.0, latencies


async def test_a_scheduled_task_starts_within_a_second_of_its_time(
    database_url: str, aconn: AsyncConn
) -> None:
    # poll 60 s: the worker must sleep until next_due, and wake again for an earlier task
    async with running_worker(database_url, poll=60):
        now = datetime.now(UTC)
        later = await client.enqueue(aconn, "echo", scheduled_at=now + timedelta(seconds=2.5))
        await asyncio.sleep(0.2)
        sooner = await client.enqueue(aconn, "echo", scheduled_at=now + timedelta(seconds=1.2))
        assert (await client.get_task(aconn, sooner)).status == "QUEUED"
        first = await finished(aconn, sooner, within=10)
        second = await finished(aconn, later, within=10)
    for done in (first, second):
        assert done.status == "COMPLETED"
        assert done.started_at is not None
        delay = (done.started_at - done.scheduled_at).total_seconds()
        assert 0 <= delay < 1.0, (done.name, delay)


async def test_claims_fill_the_free_capacity_and_never_exceed_it(
    database_url: str, aconn: AsyncConn
) -> None:
    registry = Registry()
    now_running = peak_handlers = 0

    @registry.task("counted")
    async def counted(payload: dict[str, Any], ctx: TaskContext) -> None:
        nonlocal now_running, peak_handlers
        now_running += 1
        peak_handlers = max(peak_handlers, now_running)
        try:
            await asyncio.sleep(0.4)
        finally:
            now_running -= 1

    await client.set_concurrency(aconn, "wide", None)  # only the worker's capacity limits
    async with running_worker(database_url, queues=["wide"], concurrency=3, registry=registry) as w:
        ids = [await client.enqueue(aconn, "counted", queue="wide") for _ in range(7)]
        peak_local = peak_db = 0
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            stats = {s.queue: s for s in await client.queue_stats(aconn)}["wide"]
            peak_db = max(peak_db, stats.running)
            peak_local = max(peak_local, w.running)
            if stats.completed == len(ids):
                break
            await asyncio.sleep(0.01)
    assert peak_handlers == 3  # the capacity filled, never exceeded
    # held: the handlers that run, and the outcomes that wait to be reported (claims go on
    # while at most 3 wait)
    assert 3 <= peak_local <= 6
    assert 3 <= peak_db <= 6
    for task_id in ids:
        assert (await client.get_task(aconn, task_id)).status == "COMPLETED"


async def test_a_worker_takes_only_from_its_queues(database_url: str, aconn: AsyncConn) -> None:
    async with running_worker(database_url, queues=["a", "b"]):
        in_a = await client.enqueue(aconn, "echo", queue="a")
        in_b = await client.enqueue(aconn, "echo", queue="b")
        in_c = await client.enqueue(aconn, "echo", queue="c")
        assert (await finished(aconn, in_a)).status == "COMPLETED"
        assert (await finished(aconn, in_b)).status == "COMPLETED"
        await asyncio.sleep(0.5)
        other = await client.get_task(aconn, in_c)
    assert other.status == "QUEUED"
    assert other.attempts == 0


async def test_stop_lets_running_tasks_finish_within_the_grace(
    database_url: str, aconn: AsyncConn
) -> None:
    async with running_worker(database_url, grace=10) as w:
        task_id = await client.enqueue(aconn, "sleep", {"seconds": 0.5})
        await reaches(aconn, task_id, "RUNNING")
        worker_id = w.worker_id
        assert worker_id is not None
        w.stop()
        # a claim sent just before stop() may still return a task; none is sent after it
        await asyncio.wait_for(w.claims_stopped.wait(), 5)
        queued_later = await client.enqueue(aconn, "echo")
        await asyncio.sleep(1.0)
    done = await client.get_task(aconn, task_id)
    assert done.status == "COMPLETED"
    assert (await client.get_task(aconn, queued_later)).status == "QUEUED"  # no claim after stop
    with pytest.raises(NotFound):  # unregistered on the way out
        await client.heartbeat(aconn, worker_id, timedelta(seconds=1))


async def test_stop_hands_back_what_outlives_the_grace(database_url: str, aconn: AsyncConn) -> None:
    async with running_worker(database_url, grace=0.3) as w:
        task_id = await client.enqueue(aconn, "sleep", {"seconds": 60})
        await reaches(aconn, task_id, "RUNNING")
        started = asyncio.get_running_loop().time()
        w.stop()
    assert asyncio.get_running_loop().time() - started < 5
    back = await client.get_task(aconn, task_id)
    assert back.status == "QUEUED"
    assert back.attempts == 0  # the interrupted attempt is not counted
    assert back.lease_token is None


async def test_a_full_worker_sleeps_while_notifications_arrive(
    database_url: str, aconn: AsyncConn
) -> None:
    async with running_worker(database_url, concurrency=1, poll=60) as w:
        busy = await client.enqueue(aconn, "sleep", {"seconds": 2.0})
        await reaches(aconn, busy, "RUNNING")
        waiting = [await client.enqueue(aconn, "echo") for _ in range(5)]  # five NOTIFYs
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(1.0)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        assert w.running == 1
        for task_id in waiting:
            assert (await finished(aconn, task_id)).status == "COMPLETED"
    # a loop that spun on the wake-up event would have burnt most of that second
    assert cpu < 0.25 * wall, (cpu, wall)


async def test_outcomes_that_end_together_are_reported_in_one_call(
    database_url: str, aconn: AsyncConn, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry()
    gate = asyncio.Event()

    @registry.task("gated")
    async def gated(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        await gate.wait()
        if payload["fail"]:
            raise RuntimeError("gated failure")
        return {"n": payload["n"]}

    calls: list[tuple[str, int, str]] = []

    def spy(name: str) -> None:
        original = getattr(client, name)

        async def wrapper(conn: AsyncConn, task_ids: list[Any], *rest: Any) -> Any:
            try:
                answer = await original(conn, task_ids, *rest)
            except Exception as error:
                calls.append((name, len(task_ids), type(error).__name__))
                raise
            calls.append((name, len(task_ids), "ok"))
            return answer

        monkeypatch.setattr(client, name, wrapper)

    spy("complete_encoded")
    spy("fail_arrays")
    await client.set_concurrency(aconn, "default", None)
    async with running_worker(database_url, registry=registry, concurrency=10):
        ids = await client.enqueue_many(
            aconn,
            [
                {"name": "gated", "payload": {"n": n, "fail": n >= 4}, "max_attempts": 1}
                for n in range(7)
            ],
        )

        async def all_running() -> bool:
            return all([(await client.get_task(aconn, i)).status == "RUNNING" for i in ids])

        await await_until(all_running, 10, "all seven running")
        # the lease of task 0 went to someone else: a batch with it is refused as a whole
        await aconn.execute(
            "UPDATE taskq.tasks SET lease_token = gen_random_uuid() WHERE id = %s", (ids[0],)
        )
        gate.set()
        for task_id in ids[1:]:
            await finished(aconn, task_id)
        stolen = await client.get_task(aconn, ids[0])
    # the batch of four is refused as a whole, then each is reported alone
    assert calls[0] == ("complete_encoded", 4, "Conflict")
    assert (
        sorted(calls[1:5])
        == [("complete_encoded", 1, "Conflict")] + [("complete_encoded", 1, "ok")] * 3
    )
    assert calls[5:] == [("fail_arrays", 3, "ok")]
    assert stolen.status == "RUNNING"  # refused: not this worker's to complete
    for n, task_id in enumerate(ids[1:], start=1):
        done = await client.get_task(aconn, task_id)
        if n < 4:
            assert done.status == "COMPLETED"
            assert done.result == {"n": n}
        else:
            assert done.status == "FAILED"
            assert done.last_error is not None
            assert done.last_error.startswith("RuntimeError: gated failure")


async def test_claims_and_reports_each_run_on_a_connection_of_their_own(
    database_url: str, aconn: AsyncConn, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids: dict[str, set[int]] = {"claim": set(), "complete_encoded": set()}

    def spy(name: str) -> None:
        original = getattr(client, name)

        async def wrapper(conn: AsyncConn, *args: Any, **kwargs: Any) -> Any:
            pids[name].add(conn.info.backend_pid)
            return await original(conn, *args, **kwargs)

        monkeypatch.setattr(client, name, wrapper)

    spy("claim")
    spy("complete_encoded")
    await client.set_concurrency(aconn, "default", None)
    async with running_worker(database_url, concurrency=4):
        ids = []
        for _ in range(5):
            ids += await client.enqueue_many(
                aconn, [{"name": "echo", "payload": {"n": n}} for n in range(8)]
            )
            await asyncio.sleep(0.05)
        for task_id in ids:
            assert (await finished(aconn, task_id)).status == "COMPLETED"
    # every claim on one server connection, every report on another
    assert len(pids["claim"]) == 1, pids
    assert len(pids["complete_encoded"]) == 1, pids
    assert pids["claim"] != pids["complete_encoded"]
