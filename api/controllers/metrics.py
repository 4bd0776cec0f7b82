"""``/metrics``: the queues, their throughput and the workers for Prometheus, read from the
database on each scrape."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.deps import ConnectionDep
from api.errors import problem_responses
from api.metrics import read, render


class MetricsController(Controller):
    path = "/metrics"
    tags = ["metrics"]

    @get(
        "/",
        operation_id="metrics",
        summary="Prometheus metrics of the queues and workers",
        description="The Prometheus text format: per queue the tasks by status "
        "(`taskq_tasks`), slots, paused, oldest wait, unhandled tasks, key and rate limits, "
        "the tasks finished per second over the last minute by outcome; the workers alive "
        "and presumed dead. Read from `taskq.queue_stats`, `taskq.throughput` and "
        "`taskq.worker_info` on each scrape, so every worker's work counts. Wants the bearer "
        "token like the other routes when TASKQ_API_TOKEN is set. The README's Metrics "
        "section lists every metric.",
        media_type=MediaType.TEXT,
        response_description="The metrics in the Prometheus text format",
        responses=problem_responses(401, 503),
    )
    async def metrics(self, conn: ConnectionDep) -> Response[bytes]:
        return Response(render(await read(conn)), media_type=CONTENT_TYPE_LATEST)
