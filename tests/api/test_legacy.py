"""The older ``/task/...`` routes answer exactly the older shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from taskq import client
from tests.api.conftest import Client, fail_task, finish_task, start_task
from tests.api.test_tasks import MISSING, problem

LEGACY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


async def test_the_seed_flow_create_then_status(api: Client, db: client.Connection) -> None:
    created = await api.get("/task/create")
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"task_id"}
    task_id = created.json()["task_id"]
    UUID(task_id)

    status = await api.get(f"/task/status/{task_id}")
    assert status.status_code == 200, status.text
    body = status.json()
    assert set(body) == {"status", "create_time", "start_time", "time_to_execute"}
    assert body["status"] == "In Queue"
    assert LEGACY_TIME.match(body["create_time"])
    created_at = datetime.strptime(body["create_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=1)
    assert body["start_time"] is None
    assert body["time_to_execute"] is None

    task = await client.get_task(db, UUID(task_id))
    assert task.name == "sleep"
    assert set(task.payload) == {"seconds"}
    assert 1 <= task.payload["seconds"] <= 10


async def test_create_draws_sleep_seconds_from_1_to_10(api: Client, db: client.Connection) -> None:
    seconds = set()
    for _ in range(40):
        task_id = (await api.get("/task/create")).json()["task_id"]
        seconds.add((await client.get_task(db, UUID(task_id))).payload["seconds"])
    assert seconds <= set(range(1, 11))
    assert len(seconds) > 3


async def test_running_is_run_with_a_start_time(api: Client, db: client.Connection) -> None:
    task_id = (await api.get("/task/create")).json()["task_id"]
    await start_task(db, UUID(task_id))
    body = (await api.get(f"/task/status/{task_id}")).json()
    assert body["status"] == "Run"
    assert LEGACY_TIME.match(body["start_time"])
    assert isinstance(body["time_to_execute"], int)
    assert body["time_to_execute"] >= 0


async def test_completed_and_failed(api: Client, db: client.Connection) -> None:
    done = await client.enqueue(db, "sleep", {"seconds": 1})
    await finish_task(db, done)
    body = (await api.get(f"/task/status/{done}")).json()
    assert body["status"] == "Completed"
    assert isinstance(body["time_to_execute"], int)

    failed = await client.enqueue(db, "sleep", {"seconds": 1}, max_attempts=1)
    await fail_task(db, failed)
    assert (await api.get(f"/task/status/{failed}")).json()["status"] == "Failed"


@pytest.mark.parametrize(("change", "shown"), [("pause", "Paused"), ("cancel", "Cancelled")])
async def test_paused_and_cancelled(
    api: Client, db: client.Connection, change: str, shown: str
) -> None:
    task_id = await client.enqueue(db, "sleep", {"seconds": 1})
    await (client.pause if change == "pause" else client.cancel)(db, task_id)
    assert (await api.get(f"/task/status/{task_id}")).json()["status"] == shown


async def test_an_unknown_task_is_404_and_a_malformed_id_400(api: Client) -> None:
    assert problem(await api.get(f"/task/status/{MISSING}"), 404)["task_id"] == MISSING
    body = problem(await api.get("/task/status/12345"), 400)
    assert body["invalid_params"][0]["name"] == "task_id"
