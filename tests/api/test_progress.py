"""Progress in REST: what a running handler reports with ``ctx.report_progress`` shows in
``GET /api/tasks/{id}`` while it runs, and stays once it finished."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Client
from tests.worker.helpers import await_until, running_worker
from worker import Registry, TaskContext


async def test_progress_shows_in_rest_while_the_task_runs(api: Client, database_url: str) -> None:
    registry = Registry()
    gate = asyncio.Event()

    @registry.task("steps")
    async def steps(payload: dict[str, Any], ctx: TaskContext) -> str:
        ctx.report_progress({"step": 1, "of": 2})
        await gate.wait()
        ctx.report_progress({"step": 2, "of": 2})
        return "done"

    async with running_worker(database_url, registry=registry):
        created = await api.post("/api/tasks/", json={"name": "steps"})
        assert created.status_code == 201, created.text
        url = f"/api/tasks/{created.json()['id']}"
        assert created.json()["progress"] is None

        async def shown() -> dict[str, Any] | None:
            task: dict[str, Any] = (await api.get(url)).json()
            return task if task["progress"] is not None else None

        running = await await_until(shown, 10, "the progress in REST")
        assert running["status"] == "RUNNING"
        assert running["progress"] == {"step": 1, "of": 2}
        assert running["progress_at"].endswith("Z") or "+00:00" in running["progress_at"]
        gate.set()

        async def completed() -> dict[str, Any] | None:
            task: dict[str, Any] = (await api.get(url)).json()
            return task if task["status"] == "COMPLETED" else None

        done = await await_until(completed, 10, "the task completed")
    assert done["progress"] == {"step": 2, "of": 2}
    assert done["progress_at"] >= running["progress_at"]
