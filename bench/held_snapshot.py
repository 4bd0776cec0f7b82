"""Held snapshot: the claim while tasks flow at a steady rate, with and without a REPEATABLE
READ snapshot held open by another connection of the same database.

One producer connection enqueues ``held_rate`` tasks a second (one ``taskq.enqueue`` per task,
on a fixed schedule); one claimer connection claims them one at a time (``taskq.claim``, the
worker's lean ``claim_next``, with ``batch_size => 1``), polling every 2 ms when it finds
nothing, and hands each claimed task to another connection that completes it, as a worker's
reporter does (so that the claims keep up with the flow on a loaded machine). Only the claims
that took a task are timed. The run lasts ``held_seconds``; its claims are cut into windows of
``held_window`` seconds, each with its p50 and p99. With the snapshot
held, a fourth connection ran ``BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1`` before the
flow started and stays idle in that transaction until the end: VACUUM may remove no row that
died after it. Each case runs on a fresh database, with autovacuum at its defaults. At the end,
before the snapshot is released, the statistics are flushed and ``taskq.table_health`` gives
the tasks table's dead tuples and size, and ``taskq.cleanup_holders`` the horizon's age.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bench.common import BenchError, Progress, Recorder, spread
from bench.scale import Scale
from bench.server import BenchServer
from bench.taskq_bench import QUEUE
from taskq import client
from taskq.pool import configure

Conn = psycopg.AsyncConnection[Any]
# the claimer's sleep after a claim that found nothing
POLL = 0.002


def steps(scale: Scale) -> int:
    return 2


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    for held in (False, True):
        progress.start(
            f"taskq: claims while {scale.held_rate} tasks/s flow for {scale.held_seconds:g} s, "
            + ("a REPEATABLE READ snapshot held" if held else "no snapshot held")
        )
        url = server.create_database("held", taskq=True)
        try:
            result = asyncio.run(_flow(url, scale, held))
        finally:
            server.drop_database(url)
        windows = result.pop("windows")
        if not windows:
            raise BenchError("no claim took a task")
        recorder.add(
            "taskq",
            "claim under a steady flow",
            windows[-1]["p50"],
            "ms",
            {
                "rate": scale.held_rate,
                "seconds": scale.held_seconds,
                "snapshot_held": held,
                "batch_size": 1,
                "reduced": scale.quick,
            },
            {
                **windows[-1],
                "windows": windows,
                **result,
                "measured_as": "round trip of taskq.claim(batch_size => 1), the worker's lean "
                "claim_next, through taskq.client, for the claims that took a task; the figure "
                "is the last window's p50",
            },
        )
        progress.advance()


async def _flow(url: str, scale: Scale, held: bool) -> dict[str, Any]:
    producer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    claimer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    completer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    holder = await psycopg.AsyncConnection.connect(url, autocommit=True) if held else None
    try:
        for conn in (producer, claimer, completer):
            await configure(conn)
        await client.set_concurrency(producer, QUEUE, None)
        worker_id = await client.register_worker(claimer, "bench-held", queues=[QUEUE])
        if holder is not None:
            await holder.execute("SET application_name = 'bench-held-snapshot'")
            await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            await holder.execute("SELECT 1")
        started = time.monotonic()
        stop = asyncio.Event()
        claims: list[tuple[float, float]] = []
        claimed: asyncio.Queue[client.Claimed | None] = asyncio.Queue()
        produce = asyncio.create_task(_produce(producer, scale, started, stop))
        complete = asyncio.create_task(_complete(completer, claimed))
        await _claim(claimer, worker_id, started, stop, claims, claimed)
        enqueued = await produce
        await claimed.put(None)
        await complete
        end = await _state(producer, claimer)
        if holder is not None:
            await holder.execute("ROLLBACK")
    finally:
        for opened in (producer, claimer, completer, holder):
            if opened is not None:
                await opened.close()
    windows = []
    for index in range(int(scale.held_seconds // scale.held_window)):
        low, high = index * scale.held_window, (index + 1) * scale.held_window
        inside = [ms for at, ms in claims if low <= at < high]
        if inside:
            windows.append({"window_s": [low, high], **spread(inside)})
    return {
        "windows": windows,
        "enqueued": enqueued,
        "claimed": len(claims),
        "all_claims": spread([ms for _, ms in claims]) if claims else {},
        **end,
    }


async def _produce(conn: Conn, scale: Scale, started: float, stop: asyncio.Event) -> int:
    """Enqueue on a fixed schedule, task n at started + n / rate; stop the claimer at the end."""
    count = 0
    try:
        while (due := started + count / scale.held_rate) < started + scale.held_seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await client.enqueue(conn, "bench.noop", queue=QUEUE)
            count += 1
    finally:
        stop.set()
    return count


async def _claim(
    conn: Conn,
    worker_id: Any,
    started: float,
    stop: asyncio.Event,
    claims: list[tuple[float, float]],
    claimed: asyncio.Queue[client.Claimed | None],
) -> None:
    while not stop.is_set():
        before = time.monotonic()
        tasks = await client.claim(conn, worker_id, queues=[QUEUE], batch_size=1)
        elapsed = (time.monotonic() - before) * 1000
        if not tasks:
            await asyncio.sleep(POLL)
            continue
        claims.append((before - started, elapsed))
        claimed.put_nowait(tasks[0])


async def _complete(conn: Conn, claimed: asyncio.Queue[client.Claimed | None]) -> None:
    while (task := await claimed.get()) is not None:
        await client.complete(conn, task.id, task.lease_token)


async def _state(producer: Conn, claimer: Conn) -> dict[str, Any]:
    """The tasks table's dead tuples and size, and the horizon's age, from the health views."""
    for conn in (producer, claimer):
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT 1")
    async with producer.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT dead_tuples, live_tuples, total_bytes, autovacuum_count"
            " FROM taskq.table_health WHERE table_name = 'tasks'"
        )
        tasks = await cur.fetchone()
        await cur.execute(
            "SELECT holder, xmin_age, age FROM taskq.cleanup_holders WHERE is_horizon"
        )
        horizon = await cur.fetchone()
    assert tasks is not None
    return {
        "dead_tuples": tasks["dead_tuples"],
        "live_tuples": tasks["live_tuples"],
        "tasks_total_mib": round(tasks["total_bytes"] / 2**20, 2),
        "autovacuums": tasks["autovacuum_count"],
        "horizon": None
        if horizon is None
        else {
            "holder": horizon["holder"],
            "xmin_age": horizon["xmin_age"],
            "age_s": None if horizon["age"] is None else round(horizon["age"].total_seconds(), 1),
        },
    }
