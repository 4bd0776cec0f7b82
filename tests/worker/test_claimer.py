"""The claimer alone: it claims up to its capacity, and adopts the claims whose answer was lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg

from taskq import client
from taskq.client import Claimed
from tests.worker.helpers import await_until
from worker.claimer import Claimer
from worker.database import Database
from worker.registration import Registration

AsyncConn = psycopg.AsyncConnection[Any]


class Started:
    """What the claimer handed over, held until the test lets a task go."""

    def __init__(self) -> None:
        self.tasks: dict[UUID, Claimed] = {}
        self.order: list[UUID] = []

    def __call__(self, task: Claimed) -> None:
        self.tasks[task.id] = task
        self.order.append(task.id)


@asynccontextmanager
async def claiming(
    db: Database,
    registration: Registration,
    *,
    concurrency: int = 2,
    names: Sequence[str] | None = None,
    answers_lost: asyncio.Event | None = None,
) -> AsyncIterator[tuple[Claimer, Started]]:
    started = Started()
    stopping = asyncio.Event()
    claimer = Claimer(
        db,
        registration,
        queues=["default"],
        names=names,
        room=lambda: concurrency - len(started.tasks),
        lease=30,
        poll=0.2,
        held=started.tasks,
        start=started,
        stopping=stopping,
        wake=asyncio.Event(),
        answers_lost=answers_lost or asyncio.Event(),
    )
    loop = asyncio.create_task(claimer.run())
    try:
        yield claimer, started
    finally:
        stopping.set()
        claimer.wake.set()
        await asyncio.wait_for(loop, 10)  # it returns once stopped


async def test_it_claims_up_to_its_capacity_and_more_as_room_frees(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    await client.set_concurrency(aconn, "default", None)
    ids = [await client.enqueue(aconn, "job", {"n": n}) for n in range(3)]
    async with claiming(db, registration, concurrency=2) as (claimer, started):
        await await_until(lambda: asyncio.sleep(0, len(started.tasks) == 2), 5, "two claimed")
        await asyncio.sleep(0.5)  # several polls: no room, no claim
        assert len(started.order) == 2
        del started.tasks[started.order[0]]  # one ends
        claimer.wake.set()
        await await_until(lambda: asyncio.sleep(0, len(started.order) == 3), 5, "the third")
    assert sorted(started.order) == sorted(ids)
    for task_id in started.tasks:
        assert (await client.get_task(aconn, task_id)).worker_id == registration.id


async def test_it_claims_only_its_task_names(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    other = await client.enqueue(aconn, "other")
    mine = await client.enqueue(aconn, "mine")
    async with claiming(db, registration, names=["mine"]) as (_, started):
        await await_until(lambda: asyncio.sleep(0, started.order), 5, "a claim")
        await asyncio.sleep(0.5)
    assert started.order == [mine]
    assert (await client.get_task(aconn, other)).status == "QUEUED"


async def test_after_connection_trouble_it_runs_the_claims_whose_answer_was_lost(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    lost = await client.enqueue(aconn, "job")
    [answer] = await client.claim_next(aconn, registration.id)  # never reached the claimer
    trouble = asyncio.Event()
    trouble.set()
    async with claiming(db, registration, answers_lost=trouble) as (_, started):
        await await_until(lambda: asyncio.sleep(0, started.order), 5, "the lost claim adopted")
        await asyncio.sleep(0.3)
    assert started.order == [lost]
    assert started.tasks[lost].lease_token == answer.lease_token
    assert not trouble.is_set()


async def test_a_held_task_is_not_adopted_twice(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    await client.enqueue(aconn, "job")
    [task] = await client.claim_next(aconn, registration.id)
    async with claiming(db, registration) as (claimer, started):
        assert await claimer.adopt_lost_claims() == 1
        assert await claimer.adopt_lost_claims() == 0
    assert started.order == [task.id]


async def test_a_claimer_whose_worker_vanished_registers_it_again(
    aconn: AsyncConn, db: Database, registration: Registration
) -> None:
    first = registration.id
    await client.unregister_worker(aconn, first)
    task_id = await client.enqueue(aconn, "job")
    async with claiming(db, registration) as (_, started):
        await await_until(lambda: asyncio.sleep(0, started.order), 5, "a claim after all")
    assert registration.id != first
    assert task_id in started.tasks
    assert (await client.get_task(aconn, task_id)).worker_id == registration.id
