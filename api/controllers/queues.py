"""``/api/queues``: each queue's settings and counts; change its concurrency, its key
concurrency and rate limit, pause it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get, patch
from litestar.openapi.spec import Example
from litestar.params import Body, Parameter
from msgspec import UNSET

from api.deps import ActorDep, ConnectionDep, strict_body
from api.errors import problem_responses
from api.schemas import QueueOut, QueuePatch
from taskq import client
from taskq.rules import NAME_MAX, NAME_PATTERN

QueuePath = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description="the queue's name; a queue that does not exist yet is created by a change",
        examples=[Example(value="default")],
    ),
]

PATCH_EXAMPLES = [
    Example(summary="Run at most 5 tasks of this queue at once", value={"concurrency": 5}),
    Example(summary="No limit on running tasks", value={"concurrency": None}),
    Example(summary="Stop claims from the queue (running tasks finish)", value={"paused": True}),
    Example(summary="Both at once", value={"concurrency": 1, "paused": False}),
    Example(
        summary="At most 1 running task per concurrency key (e.g. per customer)",
        value={"key_concurrency": 1},
    ),
    Example(
        summary="At most 100 claims a minute, in bursts of at most 10",
        value={"rate_limit": {"rate": 100, "per": 60, "burst": 10}},
    ),
    Example(summary="No rate limit", value={"rate_limit": None}),
    Example(
        summary="With a reason for the audit trail",
        value={"paused": True, "reason": "database maintenance"},
    ),
]


class QueueController(Controller):
    """Queues: read through the `taskq.queue_stats` view, changed by the queue functions."""

    path = "/api/queues"
    tags = ["queues"]

    @get(
        "/",
        operation_id="listQueues",
        summary="Every queue with its settings and task counts",
        description="Reads `taskq.queue_stats`: one row per queue; `oldest_wait` in seconds.",
        responses=problem_responses(401, 503),
    )
    async def list_queues(self, conn: ConnectionDep) -> list[QueueOut]:
        return [QueueOut.of(stats) for stats in await client.queue_stats(conn)]

    @patch(
        "/{name:str}",
        operation_id="updateQueue",
        summary="Change a queue's concurrency, key concurrency, rate limit, or pause it",
        description="Calls `taskq.set_concurrency` when `concurrency` is given (null = "
        "unlimited), `taskq.set_key_concurrency` for `key_concurrency` (null = no key limit), "
        "`taskq.set_rate_limit` for `rate_limit` (null = none), "
        "`taskq.pause_queue` / `taskq.resume_queue` when `paused` is given, in one "
        "transaction, and answers the queue's row of `taskq.queue_stats` "
        "(`taskq.get_queue_stats`). A change creates a queue that does not exist; an empty body "
        "only reads it (404 when there is none). Each change writes a row of the audit trail "
        "with `reason` and the token's name as the actor (`GET /api/audit`).",
        responses=problem_responses(400, 401, 404, 413, 415, 503),
    )
    async def update_queue(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        name: QueuePath,
        data: Annotated[
            QueuePatch,
            Body(
                title="What to change",
                description="Absent fields are left as they are.",
                examples=PATCH_EXAMPLES,
            ),
        ],
        request: Request[Any, Any, Any],
    ) -> QueueOut:
        data = await strict_body(request, QueuePatch)
        reason = data.reason
        async with conn.transaction(), client.acting_as(conn, actor):
            if data.concurrency is not UNSET:
                await client.set_concurrency(conn, name, data.concurrency, reason=reason)
            if data.key_concurrency is not UNSET:
                await client.set_key_concurrency(conn, name, data.key_concurrency, reason=reason)
            if data.rate_limit is None:
                await client.set_rate_limit(conn, name, None, reason=reason)
            elif data.rate_limit is not UNSET:
                limit = data.rate_limit
                await client.set_rate_limit(
                    conn,
                    name,
                    Decimal(str(limit.rate)),
                    per=timedelta(seconds=limit.per),
                    burst=limit.burst,
                    reason=reason,
                )
            if data.paused is True:
                await client.pause_queue(conn, name, reason=reason)
            elif data.paused is False:
                await client.resume_queue(conn, name, reason=reason)
            return QueueOut.of(await client.get_queue_stats(conn, name))
