"""Churn soak: tasks enqueued, drained and pruned at a steady rate, with a retention of seconds.

One database, one queue (unlimited) whose COMPLETED tasks are kept ``soak_retention`` seconds.
Four threads, each on its own connection: a producer enqueues ``soak_rate`` tasks a second
(``enqueue_many`` over arrays, every 100 ms) until ``soak_tasks``; a drainer claims
(``taskq.claim``, up to 100 at once, each claim timed) and completes them (``complete_many``
over arrays, untimed), heartbeating every 10 s as a worker does; a maintainer calls
``taskq.maintain`` every second (again at once while it pruned a full batch), as the workers'
turns do; a sampler reads the table's and its indexes' sizes and the dead tuples every
``soak_sample_every`` seconds. Autovacuum runs with the
server's defaults.

Targets: the table and its indexes plateau (the largest size in the second half of the run at
most 2x the size at a third of it: a table that grew steadily would be 3x), and the claim's
p99 in the last fifth of the run at most 1.5x its p99 in the first fifth (after 5 % warm-up).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from bench.common import BenchError, Progress, Recorder, percentile
from bench.scale import Scale
from bench.server import BenchServer

QUEUE = "soak"
SIZES = """
SELECT pg_relation_size('taskq.tasks'), pg_indexes_size('taskq.tasks'),
       coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0), coalesce(s.autovacuum_count, 0)
FROM pg_stat_user_tables s WHERE s.relid = 'taskq.tasks'::regclass
"""
ENQUEUE = """
SELECT count(*) FROM taskq.enqueue_many(array_fill('bench.noop'::text, ARRAY[%(n)s]), NULL,
                                        array_fill(%(queue)s::text, ARRAY[%(n)s]))
"""
CLAIM = "SELECT id, lease_token FROM taskq.claim(%s, ARRAY[%s], batch_size => 100)"
COMPLETE = "SELECT count(*) FROM taskq.complete_many(%s::uuid[], %s::uuid[], NULL::jsonb[])"
MAINTAIN = "SELECT completed, more FROM taskq.maintain()"
# the drainer beats as a worker does: maintain removes a worker silent for 5 minutes
HEARTBEAT = "SELECT count(*) FROM taskq.heartbeat(%s, task_ids => '{}')"
MIB = 1024 * 1024


def steps(scale: Scale) -> int:
    return 1


class _Soak:
    def __init__(self, url: str, scale: Scale) -> None:
        self.url = url
        self.scale = scale
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.enqueued = 0
        self.completed = 0
        self.pruned = 0
        self.claims: list[tuple[float, float, int]] = []  # (seconds since start, ms, tasks)
        self.samples: list[dict[str, float]] = []
        self.started = time.monotonic()

    def guarded(self, body: Any) -> Any:
        def run() -> None:
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    body(conn)
            except BaseException as error:
                self.errors.append(error)
                self.stop.set()

        return run

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def produce(self, conn: psycopg.Connection[Any]) -> None:
        total, rate = self.scale.soak_tasks, self.scale.soak_rate
        while not self.stop.is_set() and self.enqueued < total:
            due = min(total, int(rate * self.elapsed()))
            if due > self.enqueued:
                n = min(due - self.enqueued, 5000)
                conn.execute(ENQUEUE, {"n": n, "queue": QUEUE})
                self.enqueued += n
            time.sleep(0.1)

    def drain(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT taskq.register_worker('bench-soak')").fetchone()
        assert row is not None
        worker = row[0]
        beat = time.monotonic()
        while not self.stop.is_set() and self.completed < self.scale.soak_tasks:
            if time.monotonic() - beat > 10:
                conn.execute(HEARTBEAT, (worker,))
                beat = time.monotonic()
            began = time.perf_counter()
            rows = conn.execute(CLAIM, (worker, QUEUE)).fetchall()
            ms = (time.perf_counter() - began) * 1000
            if not rows:
                time.sleep(0.005)
                continue
            self.claims.append((self.elapsed(), ms, len(rows)))
            conn.execute(COMPLETE, ([str(r[0]) for r in rows], [str(r[1]) for r in rows]))
            self.completed += len(rows)

    def maintain(self, conn: psycopg.Connection[Any]) -> None:
        while not self.stop.is_set():
            more = True
            while more and not self.stop.is_set():
                row = conn.execute(MAINTAIN).fetchone()
                assert row is not None
                self.pruned += row[0]
                more = row[1]
            self.stop.wait(1.0)

    def sample(self, conn: psycopg.Connection[Any]) -> None:
        while True:
            row = conn.execute(SIZES).fetchone()
            assert row is not None
            table, indexes, live, dead, autovacuums = row
            self.samples.append(
                {
                    "s": round(self.elapsed(), 1),
                    "table_mib": round(table / MIB, 2),
                    "indexes_mib": round(indexes / MIB, 2),
                    "live": live,
                    "dead": dead,
                    "autovacuums": autovacuums,
                    "enqueued": self.enqueued,
                    "completed": self.completed,
                    "pruned": self.pruned,
                }
            )
            if self.stop.wait(self.scale.soak_sample_every):
                return


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    progress.start(
        f"taskq: churn soak, {scale.soak_tasks:,} tasks at {scale.soak_rate:,}/s, "
        f"retention {scale.soak_retention:g} s"
    )
    url = server.create_database("soak", taskq=True)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT concurrency FROM taskq.set_concurrency(%s, NULL)", (QUEUE,))
            conn.execute(
                "SELECT name FROM taskq.set_retention(%s, completed => make_interval(secs => %s))",
                (QUEUE, scale.soak_retention),
            )
        soak = _Soak(url, scale)
        threads = [
            threading.Thread(target=soak.guarded(part), name=f"soak-{part.__name__}")
            for part in (soak.produce, soak.drain, soak.maintain, soak.sample)
        ]
        for thread in threads:
            thread.start()
        limit = scale.soak_tasks / scale.soak_rate * 3 + 60
        while not soak.stop.is_set() and soak.completed < scale.soak_tasks:
            if soak.elapsed() > limit:
                soak.stop.set()
                break
            time.sleep(0.2)
        soak.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        server.drop_database(url)
    if soak.errors:
        raise BenchError(f"soak: {soak.errors[0]!r}")
    if soak.completed < scale.soak_tasks:
        raise BenchError(f"soak: {soak.completed:,} of {scale.soak_tasks:,} done in {limit:.0f} s")
    _record(recorder, scale, soak)
    progress.advance()


def _record(recorder: Recorder, scale: Scale, soak: _Soak) -> None:
    seconds = soak.claims[-1][0]
    settings = {
        "count": scale.soak_tasks,
        "rate": scale.soak_rate,
        "retention_s": scale.soak_retention,
        "reduced": scale.quick,
    }
    sizes = [(s["s"], s["table_mib"] + s["indexes_mib"]) for s in soak.samples]
    third = min(sizes, key=lambda p: abs(p[0] - seconds / 3))[1]
    second_half = max(size for at, size in sizes if at >= seconds / 2)
    recorder.add(
        "taskq",
        "soak size",
        round(sizes[-1][1], 2),
        "MiB",
        settings,
        {
            "at_third_mib": round(third, 2),
            "max_second_half_mib": round(second_half, 2),
            "max_mib": round(max(size for _, size in sizes), 2),
            "seconds": round(seconds, 1),
            "rate_achieved": round(scale.soak_tasks / seconds, 1),
            "pruned": soak.pruned,
            "samples": soak.samples,
            "measured_as": "pg_relation_size + pg_indexes_size of taskq.tasks, sampled",
        },
    )
    warm = seconds * 0.05
    start = [ms for at, ms, _ in soak.claims if warm <= at < warm + seconds * 0.2]
    end = [ms for at, ms, _ in soak.claims if at >= seconds * 0.8]
    if not start or not end:
        raise BenchError("soak: too few claims to compare the start and the end")
    recorder.add(
        "taskq",
        "soak claim p99",
        round(percentile(end, 99), 3),
        "ms",
        settings,
        {
            "start_p99": round(percentile(start, 99), 3),
            "end_p99": round(percentile(end, 99), 3),
            "start_p50": round(percentile(start, 50), 3),
            "end_p50": round(percentile(end, 50), 3),
            "start_claims": len(start),
            "end_claims": len(end),
            "mean_batch": round(sum(n for *_, n in soak.claims) / len(soak.claims), 1),
            "measured_as": "round trip of taskq.claim(batch_size => 100) that took tasks; "
            "start: the first fifth of the run after 5 % warm-up, end: the last fifth",
        },
    )
