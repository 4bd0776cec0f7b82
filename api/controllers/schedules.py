"""``/api/schedules``: the periodic tasks, with their next run; create, replace or remove one."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, put
from litestar.openapi.spec import Example
from litestar.params import Body, Parameter
from litestar.status_codes import HTTP_200_OK

from api.controllers.tasks import ACT_NOTE, ReasonQuery
from api.deps import ActorDep, ConnectionDep, strict_body
from api.errors import problem_responses
from api.schemas import ScheduleOut, SchedulePut
from taskq import client
from taskq.rules import NAME_MAX, NAME_PATTERN

SchedulePath = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description="the schedule's name",
        examples=[Example(value="report")],
    ),
]

PUT_EXAMPLES = [
    Example(summary="Every hour, on the hour, in UTC", value={"cron": "@hourly"}),
    Example(
        summary="Weekdays at 07:00 in Paris, task report in queue reports",
        value={
            "cron": "0 7 * * 1-5",
            "time_zone": "Europe/Paris",
            "payload": {"kind": "daily"},
            "queue": "reports",
            "task_name": "report",
            "reason": "the morning report",
        },
    ),
    Example(
        summary="Every 10 seconds; ticks missed while nothing ran are skipped",
        value={"cron": "*/10 * * * * *", "missed": "skip", "priority": "HIGH"},
    ),
]


class ScheduleController(Controller):
    """Schedules: read through ``taskq.schedule_info``, changed by ``taskq.schedule`` and
    ``taskq.unschedule``."""

    path = "/api/schedules"
    tags = ["schedules"]

    @get(
        "/",
        operation_id="listSchedules",
        summary="Every schedule with its next run",
        description="Reads `taskq.schedule_info`, by name: what each schedule enqueues, its cron "
        "and time zone, its next run in UTC (null when no tick is left), its last tick and task.",
        responses=problem_responses(401, 503),
    )
    async def list_schedules(self, conn: ConnectionDep) -> list[ScheduleOut]:
        return [ScheduleOut.of(row) for row in await client.list_schedules(conn)]

    @get(
        "/{name:str}",
        operation_id="getSchedule",
        summary="One schedule with its next run",
        description="Calls `taskq.get_schedule`; 404 for an unknown name.",
        responses=problem_responses(400, 401, 404, 503),
    )
    async def get_schedule(self, conn: ConnectionDep, name: SchedulePath) -> ScheduleOut:
        return ScheduleOut.of(await client.get_schedule(conn, name))

    @put(
        "/{name:str}",
        operation_id="putSchedule",
        summary="Create or replace a schedule",
        description="Calls `taskq.schedule`: the schedule called `name` enqueues a task at each "
        "tick of `cron` in `time_zone`. A PUT replaces the whole schedule: an absent field takes "
        "its default. Replacing keeps the next run when `cron` and `time_zone` are unchanged. "
        "A bad cron expression (the message names the cron field), one that never matches or an "
        "unknown time zone is 400 naming `cron` or `time_zone`." + ACT_NOTE,
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 401, 413, 415, 503),
    )
    async def put_schedule(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        name: SchedulePath,
        data: Annotated[
            SchedulePut,
            Body(
                title="The schedule",
                description="Only `cron` is required.",
                examples=PUT_EXAMPLES,
            ),
        ],
        request: Request[Any, Any, Any],
    ) -> ScheduleOut:
        data = await strict_body(request, SchedulePut)
        async with client.acting_as(conn, actor):
            made = await client.schedule(
                conn,
                name,
                data.cron,
                payload=data.payload,
                queue=data.queue or "default",
                priority=data.priority or "MEDIUM",
                time_zone=data.time_zone or "UTC",
                max_attempts=data.max_attempts or 3,
                task_name=data.task_name,
                missed=data.missed or "once",
                reason=data.reason,
            )
        return ScheduleOut.of(made)

    @delete(
        "/{name:str}",
        operation_id="deleteSchedule",
        summary="Remove a schedule",
        description="Calls `taskq.unschedule` and answers the schedule's last row; the tasks it "
        "enqueued stay. 404 for an unknown name." + ACT_NOTE,
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 401, 404, 503),
    )
    async def delete_schedule(
        self,
        conn: ConnectionDep,
        actor: ActorDep,
        name: SchedulePath,
        reason: ReasonQuery = None,
    ) -> ScheduleOut:
        async with client.acting_as(conn, actor):
            removed = await client.unschedule(conn, name, reason=reason)
        return ScheduleOut.of(removed)
