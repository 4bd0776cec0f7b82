"""The reporter alone: outcomes reach the database, in batches, and refusals are dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from taskq import client
from tests.worker.helpers import held_entry
from tests.worker.test_registration import database_away
from worker.database import Database
from worker.outcomes import Cancelled, Failed, Outcome, Running, Succeeded
from worker.registration import Registration
from worker.reporter import Reporter, send_outcomes

AsyncConn = psycopg.AsyncConnection[Any]


class Recording:
    """The real database-call function, noting the size of every batch it sends."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.batches: list[int] = []

    def __call__(
        self, function: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any
    ) -> Any:
        if function is send_outcomes:
            self.batches.append(len(args[0]))
        return self.db(function, *args, **kwargs)


@pytest.fixture
async def reporter(db: Database) -> AsyncIterator[tuple[Reporter, Recording]]:
    recording = Recording(db)
    reporter = Reporter(recording, abandon=asyncio.Event())
    loop = asyncio.create_task(reporter.run())
    try:
        yield reporter, recording
    finally:
        loop.cancel()
        await asyncio.wait({loop})


async def claim(aconn: AsyncConn, registration: Registration, count: int) -> list[Running]:
    for n in range(count):
        await client.enqueue(aconn, "job", {"n": n})
    await client.set_concurrency(aconn, "default", None)
    tasks = await client.claim_next(aconn, registration.id, batch_size=count)
    assert len(tasks) == count
    return [held_entry(task) for task in tasks]


async def report_all(reporter: Reporter, pairs: list[tuple[Running, Outcome]]) -> None:
    jobs = [reporter.report(entry, outcome) for entry, outcome in pairs]
    await asyncio.wait_for(asyncio.gather(*jobs), 15)


async def test_one_outcome_is_reported_at_once(
    aconn: AsyncConn, registration: Registration, reporter: tuple[Reporter, Recording]
) -> None:
    [entry] = await claim(aconn, registration, 1)
    await report_all(reporter[0], [(entry, Succeeded({"ok": True}))])
    done = await client.get_task(aconn, entry.task.id)
    assert (done.status, done.result) == ("COMPLETED", {"ok": True})
    assert reporter[1].batches == [1]


async def test_outcomes_that_arrive_together_share_a_call_per_kind(
    aconn: AsyncConn, registration: Registration, reporter: tuple[Reporter, Recording]
) -> None:
    entries = await claim(aconn, registration, 5)
    outcomes: list[Outcome] = [Succeeded(1), Succeeded(2), Succeeded(3), Failed("x"), Failed("y")]
    await report_all(reporter[0], list(zip(entries, outcomes, strict=True)))
    rows = [await client.get_task(aconn, entry.task.id) for entry in entries]
    assert [row.status for row in rows[:3]] == ["COMPLETED"] * 3
    assert [row.result for row in rows[:3]] == [1, 2, 3]
    assert [row.last_error for row in rows[3:]] == ["x", "y"]
    assert [row.status for row in rows[3:]] == ["QUEUED", "QUEUED"]  # attempts left: retried
    assert sorted(reporter[1].batches) == [2, 3]


async def test_a_refused_outcome_is_dropped_and_the_rest_of_its_batch_reported(
    aconn: AsyncConn, registration: Registration, reporter: tuple[Reporter, Recording]
) -> None:
    entries = await claim(aconn, registration, 3)
    await client.cancel(aconn, entries[1].task.id)
    stale = entries[1].task
    assert stale.lease_token is not None
    await client.fail(aconn, stale.id, stale.lease_token, "ended elsewhere")
    await report_all(reporter[0], [(entry, Succeeded("done")) for entry in entries])
    statuses = [(await client.get_task(aconn, e.task.id)).status for e in entries]
    assert statuses == ["COMPLETED", "CANCELLED", "COMPLETED"]
    assert reporter[1].batches == [3, 1, 1, 1]  # the batch changed nothing; then one by one


async def test_an_outcome_the_database_cannot_store_fails_the_attempt_saying_why(
    aconn: AsyncConn, registration: Registration, reporter: tuple[Reporter, Recording]
) -> None:
    [entry] = await claim(aconn, registration, 1)
    await report_all(reporter[0], [(entry, Failed("a NUL \x00 inside"))])
    row = await client.get_task(aconn, entry.task.id)
    assert row.status == "QUEUED"
    assert row.last_error is not None
    assert row.last_error.startswith("the error of this attempt could not be stored")
    assert "it began: a NUL \\x00 inside" in row.last_error


async def test_a_shutdown_is_not_reported_and_cancellation_is(
    aconn: AsyncConn, registration: Registration, reporter: tuple[Reporter, Recording]
) -> None:
    handed_back, cancelled = await claim(aconn, registration, 2)
    await client.cancel(aconn, cancelled.task.id)
    await report_all(
        reporter[0], [(handed_back, Cancelled("shutdown")), (cancelled, Cancelled("cancelled"))]
    )
    assert (await client.get_task(aconn, handed_back.task.id)).status == "RUNNING"
    assert (await client.get_task(aconn, cancelled.task.id)).status == "CANCELLED"
    assert reporter[1].batches == [1]


async def test_a_database_that_is_away_is_waited_for_until_abandoned(
    aconn: AsyncConn, registration: Registration
) -> None:
    [entry] = await claim(aconn, registration, 1)
    away = database_away()
    await away.open()
    abandon = asyncio.Event()
    reporter = Reporter(away, abandon=abandon)
    loop = asyncio.create_task(reporter.run())
    try:
        report = asyncio.ensure_future(reporter.report(entry, Succeeded(1)))
        await asyncio.sleep(1.0)
        assert not report.done()  # retrying
        assert away.answers_lost.is_set()
        abandon.set()
        await asyncio.wait_for(report, 10)
    finally:
        loop.cancel()
        await asyncio.wait({loop})
        await away.close()
    assert (await client.get_task(aconn, entry.task.id)).status == "RUNNING"
