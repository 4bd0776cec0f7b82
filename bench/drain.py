"""One recipe for the drains of every system, so that their numbers compare.

The workers are started first and wait idle; then every task is enqueued in one transaction
(with the system's own batch API); the clock starts when that transaction has committed and
stops at the first poll (every 20 ms) that finds no task left to run. The rate is tasks / seconds.

A poll asks whether any task is left (``EXISTS``, which stops at the first one found), not how
many: a ``count(*)`` reads the whole table, which a drain grows by a row version per
change of a task, and on the server it measures. taskq's count took 8-9 ms of server time a
poll at the end of a drain of 40,000 tasks, and the drains it polled ran at 0.88x those polled
by ``EXISTS`` (three interleaved pairs, 11,436-13,749 against 14,151-14,777 tasks/s); PgQueuer's,
over a table it deletes done jobs from, took 2.3-2.7 ms, and its drains ran alike with either
poll (9,586-10,021 against 9,158-9,626 tasks/s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.common import BenchError

POLL = 0.02


@dataclass
class DrainResult:
    tasks: int
    seconds: float
    enqueue_seconds: float
    database: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds

    def detail(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "enqueue_seconds": round(self.enqueue_seconds, 3),
            "measured_as": "tasks / (first poll finding none left - commit of the enqueue), "
            f"polled every {POLL * 1000:.0f} ms",
        }


def timed_drain(
    url: str,
    remaining_sql: str,
    tasks: int,
    enqueue: Callable[[], float | None],
    timeout: float,
) -> DrainResult:
    """Run ``enqueue`` (one transaction; it may return the wall-clock time of its commit), then
    poll ``remaining_sql`` (one integer: 0 once no task is left to run) until it says 0."""
    before = time.time()
    committed = enqueue() or time.time()
    enqueue_seconds = committed - before
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(remaining_sql).fetchone()
            now = time.time()
            left = int(row[0]) if row else 0
            if left == 0:
                return DrainResult(tasks, now - committed, enqueue_seconds)
            if time.monotonic() > deadline:
                raise BenchError(f"drain: tasks still left {timeout:.0f} s after enqueuing {tasks}")
            time.sleep(POLL)
