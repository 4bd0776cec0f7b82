"""The listener alone: NOTIFYs wake the claimer or the heartbeat; a lost connection comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from taskq import client
from tests.worker.helpers import await_until
from worker.listener import LISTEN_APPLICATION, Listener
from worker.registration import Registration
from worker.waiting import wait_event

AsyncConn = psycopg.AsyncConnection[Any]


@asynccontextmanager
async def listening(database_url: str, registration: Registration) -> AsyncIterator[Listener]:
    listener = Listener(
        database_url,
        registration,
        listen_url=None,
        prepare=None,
        connect_timeout=5,
        poll=5,
        queues=["default", "mail"],
        wake=asyncio.Event(),
        heartbeat_now=asyncio.Event(),
        listening=asyncio.Event(),
        answers_lost=asyncio.Event(),
    )
    loop = asyncio.create_task(listener.run())
    try:
        assert await wait_event(listener.listening, 10), "LISTEN established"
        yield listener
    finally:
        loop.cancel()
        await asyncio.wait({loop})


async def test_work_in_its_queues_wakes_the_claimer(
    database_url: str, aconn: AsyncConn, registration: Registration
) -> None:
    async with listening(database_url, registration) as listener:
        assert not listener.poll_only
        await client.enqueue(aconn, "job", queue="elsewhere")
        assert not await wait_event(listener.wake, 0.5)
        await client.enqueue(aconn, "job", queue="mail")
        assert await wait_event(listener.wake, 5)
        assert not listener.heartbeat_now.is_set()


async def test_a_cancel_of_its_running_task_wakes_the_heartbeat(
    database_url: str, aconn: AsyncConn, registration: Registration
) -> None:
    other = await client.register_worker(aconn, "other")
    theirs = await client.enqueue(aconn, "job")
    await client.claim_next(aconn, other)
    mine = await client.enqueue(aconn, "job")
    await client.claim_next(aconn, registration.id)
    async with listening(database_url, registration) as listener:
        await client.cancel(aconn, theirs)
        assert not await wait_event(listener.heartbeat_now, 0.5)
        await client.cancel(aconn, mine)
        assert await wait_event(listener.heartbeat_now, 5)


async def test_a_lost_connection_comes_back_and_says_answers_may_be_lost(
    database_url: str, aconn: AsyncConn, registration: Registration
) -> None:
    sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s"
    async with listening(database_url, registration) as listener:
        await aconn.execute(sql, (LISTEN_APPLICATION,))
        assert await wait_event(listener.answers_lost, 10)
        listener.wake.clear()
        listener.heartbeat_now.clear()

        async def back() -> bool:
            # once LISTEN is back it wakes both: what was notified meanwhile is lost
            return listener.heartbeat_now.is_set()

        await await_until(back, 10, "LISTEN re-established")
        listener.wake.clear()
        await client.enqueue(aconn, "job")
        assert await wait_event(listener.wake, 5)
