"""``/api/tasks``: enqueue, look at, pause, resume, cancel, retry and list tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, HeaderParameter, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.deps import ActorDep, ConnectionDep, strict_body
from api.errors import invalid, problem_responses
from api.schemas import TaskCreate, TaskCreatedOut, TaskOut, TaskPageOut, as_utc
from taskq import client, tracing
from taskq.errors import TaskqError
from taskq.rules import PAGE_MAX, REASON_MAX, Status

TaskId = Annotated[
    UUID,
    Parameter(
        description="the task's id (a UUID)",
        examples=[Example(value="01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11")],
    ),
]
ReasonQuery = Annotated[
    str | None,
    Parameter(
        max_length=REASON_MAX,
        description=f"why, for the audit trail (at most {REASON_MAX} characters)",
        examples=[Example(value="duplicate")],
    ),
]
TraceparentHeader = Annotated[
    str | None,
    HeaderParameter(
        name="traceparent",
        required=False,
        description="the W3C Trace Context header of the caller's span: the task stores it as "
        "its `trace_context`, and the worker's span of the handler continues that trace. An "
        "invalid one is ignored (the task has no trace context), never refused.",
        examples=[Example(value="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
    ),
]
TracestateHeader = Annotated[
    str | None,
    HeaderParameter(
        name="tracestate",
        required=False,
        description="the W3C Trace Context vendor state, stored with a valid `traceparent` "
        "(left out past 512 characters)",
        examples=[Example(value="congo=t61rcWkgMzE")],
    ),
]
TRACE_NOTE = (
    " The request's `traceparent` and `tracestate` headers (W3C Trace Context) become the "
    "task's `trace_context`; an invalid `traceparent` is ignored, as the W3C asks of a "
    "receiver. When the API itself runs under OpenTelemetry, the current span's context is "
    "stored instead (it continues the same trace)."
)
ACT_NOTE = (
    " Writes a row of the audit trail with `reason` and the token's name as the actor "
    "(`GET /api/audit`)."
)

# include= of GET /api/tasks: one or more of the large fields, comma-separated.
_LARGE = "|".join(client.LARGE_FIELDS)
INCLUDE_PATTERN = f"^(?:{_LARGE})(?:,(?:{_LARGE}))*$"

CREATE_EXAMPLES = [
    Example(
        summary="The older API's example: a HIGH task scheduled without an offset (UTC)",
        value={
            "name": "send_email",
            "payload": {"to": "a@example.com"},
            "priority": "HIGH",
            "scheduled_at": "2030-01-01T10:00:00",
        },
    ),
    Example(summary="Only a name: everything else takes its default", value={"name": "echo"}),
    Example(
        summary="Every field",
        value={
            "name": "resize_image",
            "payload": {"image": "cat.png", "width": 320},
            "priority": "LOW",
            "scheduled_at": "2030-01-01T10:00:00+02:00",
            "queue": "images",
            "max_attempts": 5,
            "unique_key": "resize:cat.png:320",
            "unique_for": "PT10M",
            "concurrency_key": "customer:42",
            "timeout": "PT30S",
        },
    ),
]


async def _act(
    act: Callable[..., Awaitable[client.Task]],
    conn: client.Connection,
    actor: str | None,
    task_id: UUID,
    reason: str | None,
) -> TaskOut:
    """One admin act on a task (pause, resume, cancel, retry) done by ``actor``."""
    async with client.acting_as(conn, actor):
        return TaskOut.of(await act(conn, task_id, reason=reason))


class TaskController(Controller):
    """Tasks of the new API. Each route is one call of a ``taskq.*`` SQL function."""

    path = "/api/tasks"
    tags = ["tasks"]

    @post(
        "/",
        operation_id="createTask",
        summary="Enqueue a task",
        description="Calls `taskq.enqueue_many` with the one task. Answers 201 with the new task, "
        "or 200 with the task that holds its `unique_key` (`created` false). A `scheduled_at` "
        "without an offset is read as UTC. Works with and without the trailing slash." + TRACE_NOTE,
        status_code=HTTP_201_CREATED,
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=TaskCreatedOut,
                description="The task that holds the body's unique_key; nothing was added",
                generate_examples=False,
            ),
            **problem_responses(400, 401, 413, 415, 503),
        },
    )
    async def create_task(
        self,
        conn: ConnectionDep,
        data: Annotated[
            TaskCreate,
            Body(
                title="A task to enqueue",
                description="Only `name` is required.",
                examples=CREATE_EXAMPLES,
            ),
        ],
        request: Request[Any, Any, Any],
        traceparent: TraceparentHeader = None,
        tracestate: TracestateHeader = None,
    ) -> Response[TaskCreatedOut]:
        data = await strict_body(request, TaskCreate)
        scheduled_at = None
        if data.scheduled_at is not None:
            try:
                scheduled_at = as_utc(data.scheduled_at).astimezone(UTC)
            except OverflowError:
                raise invalid(
                    "scheduled_at", "is out of the range of representable times"
                ) from None
        task = {
            "name": data.name,
            "payload": data.payload,
            "priority": data.priority,
            "scheduled_at": scheduled_at,
            "queue": data.queue,
            "max_attempts": data.max_attempts,
            "unique_key": data.unique_key,
            "unique_for": data.unique_for,
            "concurrency_key": data.concurrency_key,
            "timeout": data.timeout,
            "trace_context": tracing.current_trace_context()
            or tracing.from_headers(traceparent, tracestate),
        }
        try:
            (answer,) = await client.enqueue_each(conn, [task])
        except TaskqError as error:
            # the one task of the call: its fields are the body's
            if error.field is not None:
                error.field = error.field.removeprefix("tasks[0].")
            error.message = error.message.removeprefix("task #1: ")
            raise
        return Response(
            TaskCreatedOut(
                **msgspec.structs.asdict(TaskOut.of(await client.get_task(conn, answer.id))),
                created=answer.created,
            ),
            status_code=HTTP_201_CREATED if answer.created else HTTP_200_OK,
        )

    @get(
        "/{task_uuid:str}",
        operation_id="getTask",
        summary="One task",
        description="Calls `taskq.get_task`.",
        responses=problem_responses(400, 401, 404, 503),
    )
    async def get_task(self, conn: ConnectionDep, task_uuid: TaskId) -> TaskOut:
        return TaskOut.of(await client.get_task(conn, task_uuid))

    @patch(
        "/{task_uuid:str}/pause",
        operation_id="pauseTask",
        summary="Pause a queued task",
        description="Calls `taskq.pause`: QUEUED -> PAUSED (PAUSED stays PAUSED); "
        "409 from any other status." + ACT_NOTE,
        responses=problem_responses(400, 401, 404, 409, 503),
    )
    async def pause_task(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        task_uuid: TaskId,
        reason: ReasonQuery = None,
    ) -> TaskOut:
        return await _act(client.pause, conn, actor, task_uuid, reason)

    @patch(
        "/{task_uuid:str}/resume",
        operation_id="resumeTask",
        summary="Resume a paused task",
        description="Calls `taskq.resume`: PAUSED -> QUEUED keeping its place "
        "(QUEUED stays QUEUED); 409 from any other status." + ACT_NOTE,
        responses=problem_responses(400, 401, 404, 409, 503),
    )
    async def resume_task(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        task_uuid: TaskId,
        reason: ReasonQuery = None,
    ) -> TaskOut:
        return await _act(client.resume, conn, actor, task_uuid, reason)

    @post(
        "/{task_uuid:str}/cancel",
        operation_id="cancelTask",
        summary="Cancel a task",
        description="Calls `taskq.cancel`: QUEUED/PAUSED -> CANCELLED. A RUNNING task stays "
        "RUNNING with its cancellation asked; its worker stops it. 409 for COMPLETED or FAILED."
        + ACT_NOTE,
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 401, 404, 409, 503),
    )
    async def cancel_task(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        task_uuid: TaskId,
        reason: ReasonQuery = None,
    ) -> TaskOut:
        return await _act(client.cancel, conn, actor, task_uuid, reason)

    @post(
        "/{task_uuid:str}/retry",
        operation_id="retryTask",
        summary="Retry a failed or cancelled task",
        description="Calls `taskq.retry`: FAILED/CANCELLED -> QUEUED, due now, attempts from "
        "zero; 409 from any other status." + ACT_NOTE,
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 401, 404, 409, 503),
    )
    async def retry_task(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        task_uuid: TaskId,
        reason: ReasonQuery = None,
    ) -> TaskOut:
        return await _act(client.retry, conn, actor, task_uuid, reason)

    @get(
        "/",
        operation_id="listTasks",
        summary="List tasks, newest first, a keyset page at a time",
        description="Calls `taskq.list_tasks`. Filters combine; pass a page's `next_cursor` "
        "as `cursor` to get the next page (null on the last page). The tasks leave out "
        "`payload` and `result` (which can be large, and are not read from the database) "
        "unless `include` names them: `include=payload`, `include=result` or "
        "`include=payload,result`; `GET /api/tasks/{task_uuid}` always has them.",
        responses=problem_responses(400, 401, 503),
    )
    async def list_tasks(
        self,
        conn: ConnectionDep,
        status: Annotated[Status | None, Parameter(description="only tasks in this status")] = None,
        queue: Annotated[str | None, Parameter(description="only tasks of this queue")] = None,
        name: Annotated[str | None, Parameter(description="only tasks of this name")] = None,
        limit: Annotated[
            int,
            Parameter(ge=1, le=PAGE_MAX, description=f"tasks per page (at most {PAGE_MAX})"),
        ] = 50,
        cursor: Annotated[
            UUID | None, Parameter(description="the previous page's next_cursor")
        ] = None,
        include: Annotated[
            str | None,
            Parameter(
                pattern=INCLUDE_PATTERN,
                description="the large fields to show too, comma-separated: payload, result",
                examples=[Example(value="payload,result"), Example(value="result")],
            ),
        ] = None,
    ) -> TaskPageOut:
        fields = [f for f in client.LARGE_FIELDS if f in (include or "").split(",")]
        page = await client.list_tasks(
            conn,
            status=status,
            queue=queue,
            name=name,
            after=cursor,
            page_size=limit,
            include=fields,
        )
        return TaskPageOut.of(page)
