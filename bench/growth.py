"""Growth: does a claim slow down as the table fills? And the memory of a long-running worker.

Claim latency is the round trip of ``taskq.claim_next(batch_size => 1)`` from the typed client,
timed one claim at a time (each claimed task is then completed, untimed), on these tables:
a small queue, a large queue, the small queue beside a large number of COMPLETED tasks kept
in the table, and the small queue behind 100,000 due tasks of a name the claiming worker has
no handler for (it claims ``names => ['bench.noop']``, as a worker does by default). The large
tables are filled with one ``INSERT ... SELECT`` into taskq.tasks (the bench's shortcut for
setup; apps use enqueue_many) and then ``VACUUM ANALYZE``d.

Memory: the resident set of one ``taskq worker`` process (VmRSS, and its peak VmHWM) when it
is ready, and after it has run ``memory_tasks`` no-op tasks.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import psycopg

from bench.common import BenchError, Processes, Progress, Recorder, rss_kib, spread
from bench.drain import timed_drain
from bench.scale import Scale
from bench.server import BenchServer
from bench.taskq_bench import QUEUE, REMAINING, _log_file, _sql, start_workers
from taskq import client

# A history, not a snapshot: task n of the fill was enqueued (and, when finished, ran) 1 ms after
# task n-1, so the timestamps are spread as a queue fed over time has them. With ``together``
# the queued tasks share one scheduled_at instead, as one enqueue_many call gives them.
FILL = """
INSERT INTO taskq.tasks (queue, name, status, attempts, created_at, scheduled_at,
                         started_at, finished_at)
SELECT %(queue)s, %(name)s, %(status)s::taskq.status, s.finished::int, s.at,
       CASE WHEN %(together)s THEN %(base)s ELSE s.at END,
       CASE WHEN s.finished THEN s.at + interval '1 ms' END,
       CASE WHEN s.finished THEN s.at + interval '2 ms' END
FROM (SELECT %(base)s - (%(rows)s - n) * interval '1 ms' AS at,
             %(status)s = 'COMPLETED' AS finished
      FROM generate_series(1, %(rows)s) AS n) s
"""


def steps(scale: Scale) -> int:
    return 6


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    # (queued, finished, queued together, unhandled tasks ahead of the queued ones)
    cases = [
        (scale.growth_small, 0, False, 0),
        (scale.growth_large, 0, False, 0),
        (scale.growth_small, scale.growth_large, False, 0),
        (scale.growth_small, scale.growth_large, True, 0),
        (scale.growth_small, 0, False, scale.growth_unhandled),
    ]
    urls: list[str] = []
    try:
        fills: list[float] = []
        for queued, finished, together, unhandled in cases:
            progress.start(
                f"taskq: filling a table, {queued:,} queued{' together' if together else ''}, "
                f"{finished:,} finished, {unhandled:,} unhandled ahead"
            )
            urls.append(server.create_database("growth", taskq=True))
            fills.append(_fill(urls[-1], queued, finished, together, unhandled))
            progress.advance()
        progress.start(f"taskq: claim latency, {scale.growth_samples} claims on each table")
        # one claim on each table in turn: whatever else runs on the machine hits every case alike
        names = [["bench.noop"] if unhandled else None for *_, unhandled in cases]
        latencies = asyncio.run(_claims(urls, names, scale.growth_samples))
    finally:
        for url in urls:
            server.drop_database(url)
    for (queued, finished, together, unhandled), fill_seconds, samples in zip(
        cases, fills, latencies, strict=True
    ):
        stats = spread(samples)
        recorder.add(
            "taskq",
            "claim latency",
            stats["p50"],
            "ms",
            {
                "queued": queued,
                "finished": finished,
                "batch_size": 1,
                "count": scale.growth_samples,
                "queue": "unlimited",
                "reduced": scale.quick,
                "queued_together": together,
                "unhandled_ahead": unhandled,
            },
            {
                **stats,
                "fill_seconds": round(fill_seconds, 1),
                "measured_as": "round trip of claim_next(batch_size => 1) through taskq.client, "
                "one claim on each table in turn"
                + (", names => ['bench.noop']" if unhandled else ""),
            },
        )
    progress.advance()
    if scale.quick:
        recorder.notes.append(
            f"quick run: growth measured at {scale.growth_large:,} rows instead of 1,000,000"
        )
    progress.start(f"taskq: worker memory over {scale.memory_tasks:,} tasks")
    _memory(server, recorder, scale)
    progress.advance()


def _fill(
    url: str, queued: int, finished: int, together: bool = False, unhandled: int = 0
) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT concurrency FROM taskq.set_concurrency(%s, NULL)", (QUEUE,))
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        now = row[0]
        if finished:
            # the finished tasks ran before the queued ones were enqueued
            base = now - timedelta(milliseconds=queued + 1000)
            conn.execute(
                FILL,
                {
                    "queue": QUEUE,
                    "name": "bench.noop",
                    "status": "COMPLETED",
                    "rows": finished,
                    "base": base,
                    "together": False,
                },
            )
        if unhandled:
            # due before every queued task: a claim in queue order meets them first
            conn.execute(
                FILL,
                {
                    "queue": QUEUE,
                    "name": "bench.unhandled",
                    "status": "QUEUED",
                    "rows": unhandled,
                    "base": now - timedelta(milliseconds=queued + 1000),
                    "together": False,
                },
            )
        conn.execute(
            FILL,
            {
                "queue": QUEUE,
                "name": "bench.noop",
                "status": "QUEUED",
                "rows": queued,
                "base": now,
                "together": together,
            },
        )
        conn.execute("VACUUM ANALYZE taskq.tasks")
    return time.perf_counter() - started


async def _claims(
    urls: list[str], names: list[list[str] | None], samples: int
) -> list[list[float]]:
    """Claim (timed) and complete (untimed) one task at a time on each database in turn."""
    latencies: list[list[float]] = [[] for _ in urls]
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for url in urls]
    try:
        workers = [await client.register_worker(conn, "bench-growth") for conn in conns]
        for n in range(samples + 20):
            for index, (conn, worker_id) in enumerate(zip(conns, workers, strict=True)):
                started = time.perf_counter()
                tasks = await client.claim_next(
                    conn, worker_id, queues=[QUEUE], names=names[index], batch_size=1
                )
                elapsed = (time.perf_counter() - started) * 1000
                if len(tasks) != 1:
                    raise BenchError(f"claim #{n} found {len(tasks)} tasks")
                task = tasks[0]
                assert task.lease_token is not None
                await client.complete(conn, task.id, task.lease_token)
                if n >= 20:  # the first claims warm the caches
                    latencies[index].append(elapsed)
    finally:
        for conn in conns:
            await conn.close()
    return latencies


def _memory(server: BenchServer, recorder: Recorder, scale: Scale) -> None:
    url = server.create_database("memory", taskq=True)
    try:
        _sql(url, "SELECT concurrency FROM taskq.set_concurrency(%s, NULL)", (QUEUE,))
        with Processes() as procs:
            (pid,) = start_workers(procs, url, QUEUE, 100, 1, log=_log_file("taskq-worker"))
            time.sleep(0.5)
            ready = rss_kib(pid)
            batch: list[dict[str, Any]] = [{"name": "bench.noop", "queue": QUEUE}] * 1000

            def enqueue() -> None:
                async def go() -> None:
                    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
                        await _enqueue_in_one_transaction(c, batch, scale.memory_tasks // 1000)

                asyncio.run(go())

            result = timed_drain(
                url,
                REMAINING,
                scale.memory_tasks,
                enqueue,
                timeout=min(max(120.0, scale.memory_tasks / 100), 600.0),
            )
            after = rss_kib(pid)
    finally:
        server.drop_database(url)
    recorder.add(
        "taskq",
        "worker memory",
        round(after["VmRSS"] / 1024, 1),
        "MiB",
        {"processes": 1, "concurrency": 100, "count": scale.memory_tasks},
        {
            "rss_ready_mib": round(ready["VmRSS"] / 1024, 1),
            "rss_after_mib": round(after["VmRSS"] / 1024, 1),
            "peak_mib": round(after["VmHWM"] / 1024, 1),
            "drain_rate": round(result.rate, 1),
            "measured_as": "VmRSS of the taskq worker process after it ran the tasks",
        },
    )


async def _enqueue_in_one_transaction(
    conn: psycopg.AsyncConnection[Any], batch: list[dict[str, Any]], times: int
) -> None:
    async with conn.transaction():
        for _ in range(times):
            await client.enqueue_many(conn, batch)
