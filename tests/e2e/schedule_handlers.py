"""A periodic handler for the schedule's end-to-end test: ``--import tests.e2e.schedule_handlers``
(not in tests.worker.handlers: every worker importing it would enqueue a task each second)."""

from __future__ import annotations

from typing import Any

from worker import TaskContext, task


@task("tests.tick", cron="* * * * * *")
async def tick(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"tick": payload["_schedule"]["tick"]}
