"""Growth: does a claim slow down as the table fills? And the memory of a long-running worker.

Claim latency is the round trip of ``taskq.claim_next(batch_size => 1)`` from the typed client,
timed one claim at a time (each claimed task is then completed, untimed), on three tables:
a small queue, a large queue, and the small queue beside a large number of COMPLETED tasks kept
in the table. The large tables are filled with one ``INSERT ... SELECT`` into taskq.tasks (the
bench's shortcut for setup; apps use enqueue_many) and then ``VACUUM ANALYZE``d.

Memory: the resident set of one ``taskq worker`` process (VmRSS, and its peak VmHWM) when it
is ready, and after it has run ``memory_tasks`` no-op tasks.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from bench.common import BenchError, Processes, Progress, Recorder, rss_kib, spread
from bench.drain import timed_drain
from bench.scale import Scale
from bench.server import BenchServer
from bench.taskq_bench import QUEUE, REMAINING, _log_file, _sql, start_workers
from taskq import client

FILL = """
INSERT INTO taskq.tasks (queue, name, status, attempts, started_at, finished_at)
SELECT %(queue)s, 'bench.noop', %(status)s::taskq.status,
       CASE WHEN %(status)s = 'COMPLETED' THEN 1 ELSE 0 END,
       CASE WHEN %(status)s = 'COMPLETED' THEN now() END,
       CASE WHEN %(status)s = 'COMPLETED' THEN now() END
FROM generate_series(1, %(rows)s)
"""


def steps(scale: Scale) -> int:
    return 4


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    cases = [
        (scale.growth_small, 0),
        (scale.growth_large, 0),
        (scale.growth_small, scale.growth_large),
    ]
    for queued, finished in cases:
        progress.start(
            f"taskq: claim latency, {queued:,} queued, {finished:,} finished "
            f"({scale.growth_samples} claims)"
        )
        url = server.create_database("growth", taskq=True)
        try:
            fill_seconds = _fill(url, queued, finished)
            latencies = asyncio.run(_claims(url, scale.growth_samples))
        finally:
            server.drop_database(url)
        stats = spread(latencies)
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
            },
            {
                **stats,
                "fill_seconds": round(fill_seconds, 1),
                "measured_as": "round trip of claim_next(batch_size => 1) through taskq.client",
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


def _fill(url: str, queued: int, finished: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT concurrency FROM taskq.set_concurrency(%s, NULL)", (QUEUE,))
        if finished:
            conn.execute(FILL, {"queue": QUEUE, "status": "COMPLETED", "rows": finished})
        conn.execute(FILL, {"queue": QUEUE, "status": "QUEUED", "rows": queued})
        conn.execute("VACUUM ANALYZE taskq.tasks")
    return time.perf_counter() - started


async def _claims(url: str, samples: int) -> list[float]:
    latencies: list[float] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        worker_id = await client.register_worker(conn, "bench-growth")
        for n in range(samples + 20):
            started = time.perf_counter()
            tasks = await client.claim_next(conn, worker_id, queues=[QUEUE], batch_size=1)
            elapsed = (time.perf_counter() - started) * 1000
            if len(tasks) != 1:
                raise BenchError(f"claim #{n} found {len(tasks)} tasks")
            task = tasks[0]
            assert task.lease_token is not None
            await client.complete(conn, task.id, task.lease_token)
            if n >= 20:  # the first claims warm the caches
                latencies.append(elapsed)
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
                timeout=max(300.0, scale.memory_tasks / 50),
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
