"""The worker process's own metrics, served for Prometheus with ``--metrics-port``.

A :class:`WorkerMetrics` holds them in a registry of its own (not prometheus_client's global
one) and is handed to the parts that observe: the worker times each handler, the claimer
counts its claims, the reporter the outcomes it sent, the listener its reconnections. A worker
without one (no ``--metrics-port``) skips each observation with a ``None`` check.

What the queues hold, and what every worker finished, are the API's ``/metrics`` (read from the
database); these are what this one process did since it started.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from worker.outcomes import Cancelled, Outcome, Running, Succeeded

#: the upper bounds of the handler duration histogram's buckets, in seconds
HANDLER_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
#: the task_name label of a task this worker has no handler for (``--any-name``), so that task
#: names nobody handles cannot grow the number of series without bound
NO_HANDLER: Final = "(no handler)"
#: the outcome label of taskq_worker_reports_total, by what the database made of the task
#: (None: nothing; the task was no longer this worker's, or the database stayed away)
_REPORTED: Final = {
    "COMPLETED": "completed",
    "QUEUED": "retried",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    None: "dropped",
}


def handler_outcome(entry: Running, outcome: Outcome) -> str:
    """How the attempt ended as the worker knows it: completed, failed, cancelled (by
    ``taskq.cancel`` or the worker's shutdown) or timed_out (the task's timeout)."""
    if isinstance(outcome, Succeeded):
        return "completed"
    if isinstance(outcome, Cancelled):
        return "cancelled"
    return "timed_out" if entry.context.cancel_reason == "timeout" else "failed"


class WorkerMetrics:
    """The worker's metrics; :meth:`serve` starts their HTTP endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.handler_duration = Histogram(
            "taskq_worker_handler_duration_seconds",
            "How long this worker's handlers ran, by task name and how the attempt ended "
            f"(completed, failed, cancelled, timed_out); {NO_HANDLER!r} for a name it has no "
            "handler for.",
            ["task_name", "outcome"],
            buckets=HANDLER_BUCKETS,
            registry=self.registry,
        )
        self.claims = Counter(
            "taskq_worker_claims",
            "Claim calls (taskq.claim) this worker made that the database answered.",
            registry=self.registry,
        )
        self.claimed_tasks = Counter(
            "taskq_worker_claimed_tasks",
            "Tasks this worker's claim calls returned.",
            registry=self.registry,
        )
        self.reports = Counter(
            "taskq_worker_reports",
            "Task outcomes this worker reported, by what the database made of the task: "
            "completed, retried (queued again), failed, cancelled; dropped when it stored "
            "nothing (the task was no longer this worker's, or the database stayed away).",
            ["outcome"],
            registry=self.registry,
        )
        self.reconnects = Counter(
            "taskq_worker_reconnects",
            "Times this worker's LISTEN connection came back after it was lost.",
            registry=self.registry,
        )
        self.running = Gauge(
            "taskq_worker_running_tasks",
            "Tasks this worker holds: claimed and not yet reported.",
            registry=self.registry,
        )
        self._reported = {stored: self.reports.labels(label) for stored, label in _REPORTED.items()}
        self._durations: dict[tuple[str, str], Histogram] = {}
        self._names: frozenset[str] = frozenset()

    def attach(self, running: Callable[[], int], task_names: Collection[str]) -> None:
        """Read the worker's running tasks from ``running()`` at each scrape; ``task_names``
        are the names it has handlers for."""
        self.running.set_function(running)
        self._names = frozenset(task_names)

    def handled(self, entry: Running, outcome: Outcome) -> None:
        """A handler ended (its place is free): one observation of its duration."""
        name = entry.task.name if entry.task.name in self._names else NO_HANDLER
        key = (name, handler_outcome(entry, outcome))
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = self.handler_duration.labels(*key)
        child.observe(entry.elapsed())

    def claimed(self, tasks: int) -> None:
        self.claims.inc()
        if tasks:
            self.claimed_tasks.inc(tasks)

    def reported(self, status: str | None) -> None:
        """The database stored an outcome as ``status`` (None: it stored none)."""
        self._reported[status].inc()

    def reconnected(self) -> None:
        self.reconnects.inc()

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve the metrics on ``host:port`` from a daemon thread (OSError when the port is
        taken); ``shutdown()`` and ``server_close()`` the server it returns to stop."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server
