"""What ``GET /metrics`` answers: the queue's figures in Prometheus' text format.

Every scrape reads the database (``taskq.queue_stats``, ``taskq.throughput`` over the last
minute, ``taskq.worker_info``) and renders what it read as gauges: the API keeps no counter of
its own, so every worker's work counts, whichever process did it, and two API processes answer
the same. :func:`read` does the reading, :func:`render` the text.

The tasks finished per second are a gauge computed in the database (the tasks that finished in
the last full minute, divided by 60), not a counter: a counter of finished tasks would have to
be kept by something that sees every finish exactly once, and the finished rows that a counter
could be recounted from are pruned by retention.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from time import perf_counter
from typing import Final

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taskq import client
from taskq.client import Connection, QueueStats, Throughput, WorkerInfo
from taskq.errors import Unavailable

#: the stretch ``taskq_tasks_finished_per_second`` averages over
FINISHED_WINDOW: Final = timedelta(minutes=1)
#: how long a scrape's reads may take: under Prometheus' default scrape_timeout (10 s) with the
#: pool's wait for a connection, so that a database that does not answer (a locked table) is a
#: 503 and the reads are cancelled in the server, not scrapes that pile up holding connections
READ_TIMEOUT: Final = 5.0
# the status label of taskq_tasks, and the column of taskq.queue_stats that counts it
_STATUS_COLUMNS: Final = (
    ("queued", "queued"),
    ("scheduled", "scheduled"),
    ("running", "running"),
    ("paused", "paused_tasks"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
)
_OUTCOMES: Final = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Snapshot:
    """What one scrape read, and how long the reading took."""

    queues: Sequence[QueueStats]
    finished: Sequence[Throughput]
    workers: Sequence[WorkerInfo]
    seconds: float


async def read(conn: Connection) -> Snapshot:
    """The three reads of a scrape, on one connection; :class:`Unavailable` past
    ``READ_TIMEOUT`` seconds."""
    began = perf_counter()
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            queues = await client.queue_stats(conn)
            finished = await client.throughput(conn, FINISHED_WINDOW, 1)
            workers = await client.list_workers(conn)
    except TimeoutError:
        raise Unavailable(f"the database did not answer within {READ_TIMEOUT:g}s") from None
    return Snapshot(queues, finished, workers, perf_counter() - began)


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def families(snapshot: Snapshot) -> list[Metric]:
    """The metric families of a snapshot, each with its HELP text."""
    tasks = _gauge(
        "taskq_tasks",
        "Tasks of the queue by status, as taskq.queue_stats counts them (queued: due now; "
        "scheduled: due later; paused: paused tasks); finished tasks count until pruned.",
        ("queue", "status"),
    )
    slots = _gauge(
        "taskq_queue_slots",
        "How many of the queue's tasks may run at once (its concurrency); no series for a "
        "queue without a limit.",
        ("queue",),
    )
    paused = _gauge("taskq_queue_paused", "1 while the queue is paused, else 0.", ("queue",))
    oldest = _gauge(
        "taskq_queue_oldest_wait_seconds",
        "How long the queue's longest-due queued task has waited; no series when none is due.",
        ("queue",),
    )
    unhandled = _gauge(
        "taskq_queue_unhandled_tasks",
        "Due tasks of the queue that no live worker has a handler for (taskq.unhandled_tasks).",
        ("queue",),
    )
    key_slots = _gauge(
        "taskq_queue_key_concurrency",
        "How many tasks of one concurrency key may run at once; no series for a queue "
        "without a key limit.",
        ("queue",),
    )
    rate = _gauge(
        "taskq_queue_rate_limit_per_second",
        "The queue's rate limit in claims per second; no series for a queue without one.",
        ("queue",),
    )
    burst = _gauge(
        "taskq_queue_rate_limit_burst",
        "The largest burst of claims the queue's rate limit allows; no series without one.",
        ("queue",),
    )
    for stats in snapshot.queues:
        queue = [stats.queue]
        for status, column in _STATUS_COLUMNS:
            tasks.add_metric([stats.queue, status], getattr(stats, column))
        if stats.concurrency is not None:
            slots.add_metric(queue, stats.concurrency)
        paused.add_metric(queue, 1 if stats.paused else 0)
        if stats.oldest_wait is not None:
            oldest.add_metric(queue, stats.oldest_wait.total_seconds())
        unhandled.add_metric(queue, stats.unhandled)
        if stats.key_concurrency is not None:
            key_slots.add_metric(queue, stats.key_concurrency)
        if stats.rate is not None and stats.rate_per is not None:
            rate.add_metric(queue, float(stats.rate) / stats.rate_per.total_seconds())
        if stats.rate_burst is not None:
            burst.add_metric(queue, stats.rate_burst)

    finished = _gauge(
        "taskq_tasks_finished_per_second",
        "Tasks of the queue that finished in the last full minute, per second, by outcome "
        "(failed: for good, no attempt left), computed by taskq.throughput from every worker's "
        "work; a gauge, since pruning makes an exact counter impossible.",
        ("queue", "outcome"),
    )
    for row in snapshot.finished:
        seconds = (row.bucket_end - row.bucket_start).total_seconds()
        for outcome in _OUTCOMES:
            finished.add_metric([row.queue, outcome], getattr(row, outcome) / seconds)

    workers = _gauge(
        "taskq_workers",
        "Registered workers: alive (heartbeat within the lease) or presumed_dead (maintain "
        "removes them later and rescues their tasks).",
        ("state",),
    )
    alive = sum(1 for worker in snapshot.workers if worker.alive)
    workers.add_metric(["alive"], alive)
    workers.add_metric(["presumed_dead"], len(snapshot.workers) - alive)

    duration = _gauge(
        "taskq_scrape_duration_seconds",
        "How long this scrape's reads of the database took.",
    )
    duration.add_metric([], snapshot.seconds)
    return [
        tasks,
        slots,
        paused,
        oldest,
        unhandled,
        key_slots,
        rate,
        burst,
        finished,
        workers,
        duration,
    ]


class _Families(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


def render(snapshot: Snapshot) -> bytes:
    """The snapshot in the Prometheus text format (``CONTENT_TYPE_LATEST``)."""
    return generate_latest(_Families(families(snapshot)))
