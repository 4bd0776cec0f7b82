"""The older API's ``/task/...`` routes, answering exactly the older shapes."""

from __future__ import annotations

import secrets

from litestar import Controller, get

from api.controllers.tasks import TaskId
from api.deps import ConnectionDep
from api.errors import problem_responses
from api.schemas import LegacyCreated, LegacyTaskStatus
from taskq import client

SLEEP_TASK = "sleep"


class LegacyTaskController(Controller):
    """``GET /task/create`` and ``GET /task/status/{task_id}``, kept for the older clients."""

    path = "/task"
    tags = ["older API"]

    @get(
        "/create",
        operation_id="legacyCreateTask",
        summary="Enqueue a built-in sleep task (older API)",
        description="Calls `taskq.enqueue('sleep', {\"seconds\": n})` with n from 1 to 10 "
        'and answers `{"task_id": "<uuid>"}`.',
        responses=problem_responses(401, 503),
    )
    async def create(self, conn: ConnectionDep) -> LegacyCreated:
        seconds = 1 + secrets.randbelow(10)
        task_id = await client.enqueue(conn, SLEEP_TASK, {"seconds": seconds})
        return LegacyCreated(task_id=task_id)

    @get(
        "/status/{task_id:str}",
        operation_id="legacyTaskStatus",
        summary="A task's status in the older shape",
        description='Calls `taskq.get_task`. `status` is "In Queue", "Run", "Completed", '
        '"Paused", "Failed" or "Cancelled"; times are `YYYY-MM-DD HH:MM:SS` in UTC; '
        "`time_to_execute` is in whole seconds.",
        responses=problem_responses(400, 401, 404, 503),
    )
    async def status(self, conn: ConnectionDep, task_id: TaskId) -> LegacyTaskStatus:
        return LegacyTaskStatus.of(await client.get_task(conn, task_id))
