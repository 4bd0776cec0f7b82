"""``/api/queues``: the stats rows, and PATCH of concurrency and pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from taskq import client
from tests.api.conftest import Client
from tests.api.test_tasks import problem

QUEUE_KEYS = {
    "queue",
    "concurrency",
    "paused",
    "queued",
    "scheduled",
    "running",
    "paused_tasks",
    "completed",
    "failed",
    "cancelled",
    "oldest_wait",
    "key_concurrency",
    "rate_limit",
}


async def queues(api: Client) -> dict[str, dict[str, Any]]:
    response = await api.get("/api/queues")
    assert response.status_code == 200, response.text
    return {row["queue"]: row for row in response.json()}


async def test_no_queue_at_first(api: Client) -> None:
    assert await queues(api) == {}


async def test_counts_and_oldest_wait_in_seconds(api: Client, db: client.Connection) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await client.enqueue(db, "a", queue="mail", scheduled_at=an_hour_ago)
    await client.enqueue(db, "b", queue="mail", scheduled_at=datetime.now(UTC) + timedelta(days=1))
    paused = await client.enqueue(db, "c", queue="mail")
    await client.pause(db, paused)
    row = (await queues(api))["mail"]
    assert set(row) == QUEUE_KEYS
    assert row["concurrency"] == 2
    assert row["paused"] is False
    assert (row["queued"], row["scheduled"], row["paused_tasks"]) == (1, 1, 1)
    assert (row["running"], row["completed"], row["failed"], row["cancelled"]) == (0, 0, 0, 0)
    assert 3590 < row["oldest_wait"] < 3700


async def test_patch_concurrency_answers_the_stats_row(api: Client) -> None:
    assert (await api.patch("/api/queues/mail", json={"concurrency": 10_000})).status_code == 200
    response = await api.patch("/api/queues/mail", json={"concurrency": 5})
    assert response.status_code == 200, response.text
    row = response.json()
    assert set(row) == QUEUE_KEYS
    assert row["queue"] == "mail"
    assert row["concurrency"] == 5
    assert row["oldest_wait"] is None
    assert (await queues(api))["mail"]["concurrency"] == 5


async def test_patch_null_concurrency_means_unlimited_and_absent_leaves_it(api: Client) -> None:
    await api.patch("/api/queues/mail", json={"concurrency": 3})
    unlimited = await api.patch("/api/queues/mail", json={"concurrency": None})
    assert unlimited.status_code == 200
    assert unlimited.json()["concurrency"] is None
    await api.patch("/api/queues/mail", json={"concurrency": 4})
    kept = await api.patch("/api/queues/mail", json={"paused": True})
    assert kept.json()["concurrency"] == 4
    assert kept.json()["paused"] is True


async def test_patch_paused_pauses_and_resumes(api: Client) -> None:
    paused = await api.patch("/api/queues/default", json={"paused": True})
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    both = await api.patch("/api/queues/default", json={"paused": False, "concurrency": 1})
    assert both.json()["paused"] is False
    assert both.json()["concurrency"] == 1


async def test_patch_with_nothing_reads_an_existing_queue_and_404s_an_unknown_one(
    api: Client, db: client.Connection
) -> None:
    await client.enqueue(db, "a", queue="mail")
    response = await api.patch("/api/queues/mail", json={})
    assert response.status_code == 200
    assert response.json()["queued"] == 1
    body = problem(await api.patch("/api/queues/nowhere", json={}), 404)
    assert "nowhere" in body["detail"]


async def test_patch_bad_values_are_400_naming_the_field(api: Client) -> None:
    for body, field in [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 10_001}, "concurrency"),
        ({"concurrency": "many"}, "concurrency"),
        ({"paused": "yes"}, "paused"),
        ({"paused": "true"}, "paused"),
        ({"concurrency": "5"}, "concurrency"),
        ({"speed": 1}, "speed"),
    ]:
        answer = problem(await api.patch("/api/queues/mail", json=body), 400)
        assert [p["name"] for p in answer["invalid_params"]] == [field], answer
    assert "mail" not in await queues(api)


async def test_patch_a_queue_name_too_long_is_400(api: Client) -> None:
    answer = problem(await api.patch("/api/queues/" + "q" * 129, json={"paused": True}), 400)
    assert answer["invalid_params"][0]["name"] == "name"
    assert answer["invalid_params"][0]["source"] == "path"


async def test_a_task_due_since_minus_infinity_leaves_the_wait_unknown(
    api: Client, db: client.Connection
) -> None:
    # a row stored before taskq refused such times: PostgreSQL 15 raised 22008 for the view
    await client.enqueue(db, "a", queue="mail", scheduled_at=datetime.now(UTC) - timedelta(hours=1))
    spoiled = await client.enqueue(db, "b", queue="mail")
    await db.execute("UPDATE taskq.tasks SET scheduled_at = '-infinity' WHERE id = %s", (spoiled,))
    row = (await queues(api))["mail"]
    assert (row["queued"], row["oldest_wait"]) == (2, None)
