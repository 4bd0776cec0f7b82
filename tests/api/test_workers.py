"""``/api/workers`` (taskq.worker_info) and ``/api/throughput`` (taskq.throughput): their rows,
the ``alive`` filter, the bounds of ``bucket`` and ``buckets``, and the reader role's access."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from taskq import client
from tests.api.conftest import Client, fail_task, finish_task, login_as_member_of
from tests.api.test_tasks import invalid_names, problem
from tests.conftest import PgServer

WORKER_KEYS = {
    "id",
    "name",
    "host",
    "pid",
    "queues",
    "task_names",
    "started_at",
    "heartbeat_at",
    "lease",
    "running",
    "alive",
}


async def workers(api: Client, query: str = "") -> dict[str, dict[str, Any]]:
    response = await api.get(f"/api/workers{query}")
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()}


async def test_a_worker_with_a_claimed_task_runs_one_and_a_stale_one_is_dead(
    api: Client, db: client.Connection
) -> None:
    assert await workers(api) == {}
    busy = await client.register_worker(
        db, "busy", queues=["mail"], host="host-a", pid=41, task_names=["send"]
    )
    stale = await client.register_worker(db, "stale")
    await client.enqueue(db, "send", queue="mail")
    assert len(await client.claim_next(db, busy, queues=["mail"])) == 1
    await db.execute(
        "UPDATE taskq.workers SET heartbeat_at = now() - interval '1 minute' WHERE id = %s",
        (stale,),
    )
    rows = await workers(api)
    assert set(rows) == {"busy", "stale"}
    row = rows["busy"]
    assert set(row) == WORKER_KEYS
    assert row["id"] == str(busy)
    assert (row["host"], row["pid"], row["queues"], row["task_names"]) == (
        "host-a",
        41,
        ["mail"],
        ["send"],
    )
    assert (row["running"], row["alive"], row["lease"]) == (1, True, 30.0)
    assert datetime.fromisoformat(row["heartbeat_at"]).utcoffset() is not None
    assert row["heartbeat_at"].endswith("+00:00")
    assert (rows["stale"]["running"], rows["stale"]["alive"]) == (0, False)
    assert rows["stale"]["queues"] is None
    assert set(await workers(api, "?alive=true")) == {"busy"}
    assert set(await workers(api, "?alive=false")) == {"stale"}
    assert invalid_names(problem(await api.get("/api/workers?alive=perhaps"), 400)) == ["alive"]


async def test_throughput_counts_the_finished_tasks_of_the_last_bucket(
    api: Client, db: client.Connection
) -> None:
    response = await api.get("/api/throughput")
    assert response.status_code == 200, response.text
    assert response.json() == []
    done = [await client.enqueue(db, "x", queue="mail") for _ in range(2)]
    for task_id in done:
        await finish_task(db, task_id)
    await fail_task(db, await client.enqueue(db, "x", queue="mail", max_attempts=1))
    await client.cancel(db, await client.enqueue(db, "x", queue="mail"))
    response = await api.get("/api/throughput", params={"bucket": 3600, "buckets": 2})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [row["queue"] for row in rows] == ["mail", "mail"]
    older, last = rows
    assert set(last) == {
        "queue",
        "bucket_start",
        "bucket_end",
        "completed",
        "failed",
        "cancelled",
    }
    assert (older["completed"], older["failed"], older["cancelled"]) == (0, 0, 0)
    assert (last["completed"], last["failed"], last["cancelled"]) == (2, 1, 1)
    assert older["bucket_end"] == last["bucket_start"]
    start, end = (datetime.fromisoformat(last[k]) for k in ("bucket_start", "bucket_end"))
    assert (end - start).total_seconds() == 3600
    # the defaults: 30 buckets of a minute
    rows = (await api.get("/api/throughput")).json()
    assert len(rows) == 30
    assert sum(row["completed"] for row in rows) == 2


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("bucket=0", "bucket"),
        ("bucket=86401", "bucket"),
        ("bucket=-5", "bucket"),
        ("bucket=1.5", "bucket"),
        ("bucket=minute", "bucket"),
        ("bucket=99999999999999999999999", "bucket"),
        ("buckets=0", "buckets"),
        ("buckets=1441", "buckets"),
        ("buckets=", "buckets"),
    ],
)
async def test_throughput_out_of_range_is_400_naming_the_parameter(
    api: Client, query: str, name: str
) -> None:
    body = problem(await api.get(f"/api/throughput?{query}"), 400)
    assert invalid_names(body) == [name]


async def test_the_bounds_are_documented(api: Client) -> None:
    schema = (await api.get("/docs/openapi.json")).json()
    params = {p["name"]: p for p in schema["paths"]["/api/throughput"]["get"]["parameters"]}
    bounds = {
        name: (params[name]["schema"]["minimum"], params[name]["schema"]["maximum"])
        for name in ("bucket", "buckets")
    }
    assert bounds == {"bucket": (1, 86400), "buckets": (1, 1440)}


async def test_the_reader_role_may_list_workers_and_throughput(
    database_url: str, pg_server: PgServer, db: client.Connection
) -> None:
    await client.register_worker(db, "w")
    await client.enqueue(db, "x", queue="mail")
    with login_as_member_of(
        pg_server, database_url, "taskq_test_reader_only", "taskq_reader"
    ) as url:
        async with AsyncTestClient(app=create_app(url, pool_timeout=2.0)) as api:
            response = await api.get("/api/workers")
            assert response.status_code == 200, response.text
            assert [row["name"] for row in response.json()] == ["w"]
            response = await api.get("/api/throughput?buckets=1")
            assert response.status_code == 200, response.text
            assert [row["queue"] for row in response.json()] == ["mail"]
            # and a reader is no admin
            problem(await api.patch("/api/queues/mail", json={"paused": True}), 403)
