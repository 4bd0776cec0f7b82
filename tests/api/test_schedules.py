"""``/api/schedules``: list, read, create or replace, remove; 400 naming the field, 404 for an
unknown name, and the audit rows' actor from the token's name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from tests.api.conftest import Client
from tests.api.test_tasks import invalid_names, problem

TOKENS = {"alice": "alice-s3cret", "bob": "bob-s3cret"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[Client]:
    app = create_app(database_url, api_tokens=TOKENS, pool_timeout=1.0)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def test_put_creates_then_replaces_and_get_reads_it(api: Client) -> None:
    assert (await api.get("/api/schedules")).json() == []
    body = {
        "cron": "0 7 * * 1-5",
        "time_zone": "Europe/Paris",
        "payload": {"kind": "daily"},
        "queue": "reports",
        "priority": "HIGH",
        "max_attempts": 5,
        "task_name": "make_report",
        "missed": "skip",
        "reason": "the morning report",
    }
    made = await api.put("/api/schedules/report", json=body)
    assert made.status_code == 200, made.text
    schedule = made.json()
    assert {key: schedule[key] for key in body if key != "reason"} == {
        key: value for key, value in body.items() if key != "reason"
    }
    assert schedule["name"] == "report"
    # next_run_at is UTC with its offset; 07:00 in Paris is 05:00 or 06:00 UTC
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    assert schedule["next_run_at"].endswith("+00:00")
    assert (next_run.hour, next_run.minute, next_run.weekday() < 5) in {(5, 0, True), (6, 0, True)}
    assert (schedule["last_run_at"], schedule["last_task_id"]) == (None, None)
    assert (await api.get("/api/schedules/report")).json() == schedule
    assert (await api.get("/api/schedules")).json() == [schedule]
    # a PUT replaces the whole schedule: absent fields take their defaults
    replaced = (await api.put("/api/schedules/report", json={"cron": "@hourly"})).json()
    assert {
        key: replaced[key]
        for key in ("cron", "time_zone", "payload", "queue", "priority", "task_name", "missed")
    } == {
        "cron": "@hourly",
        "time_zone": "UTC",
        "payload": {},
        "queue": "default",
        "priority": "MEDIUM",
        "task_name": "report",
        "missed": "once",
    }
    assert replaced["max_attempts"] == 3


async def test_delete_removes_and_answers_the_last_row_then_404(api: Client) -> None:
    await api.put("/api/schedules/nightly", json={"cron": "0 3 * * *"})
    removed = await api.delete("/api/schedules/nightly", params={"reason": "not needed"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["cron"] == "0 3 * * *"
    assert (await api.get("/api/schedules")).json() == []
    for response in (
        await api.delete("/api/schedules/nightly"),
        await api.get("/api/schedules/nightly"),
    ):
        assert problem(response, 404)["detail"] == "schedule 'nightly' does not exist"


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"cron": "0 24 * * *"}, "cron", "cron hour field"),
        ({"cron": "* * * *"}, "cron", "has 4 fields"),
        ({"cron": "0 0 30 2 *"}, "cron", "never matches"),
        ({"cron": "@reboot"}, "cron", "shorthand"),
        ({"cron": "@daily", "time_zone": "Mars/Olympus"}, "time_zone", "is unknown"),
        ({"cron": "@daily", "missed": "burst"}, "missed", "expected one of once, skip"),
        ({"cron": "@daily", "max_attempts": 0}, "max_attempts", ">= 1"),
        ({"cron": "@daily", "priority": "URGENT"}, "priority", "LOW, MEDIUM, HIGH"),
        ({"cron": "@daily", "payload": [1]}, "payload", "object"),
        ({"cron": "@daily", "task_name": " "}, "task_name", ""),
        ({"cron": "@daily", "reason": "x" * 1001}, "reason", "1000"),
        ({"cron": "@daily", "every": "day"}, "every", "unknown field"),
        ({"payload": {}}, "cron", "missing required field"),
        ({"cron": 5}, "cron", "Expected `str`"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    api: Client, body: dict[str, object], field: str, says: str
) -> None:
    found = problem(await api.put("/api/schedules/s", json=body), 400)
    assert invalid_names(found) == [field], found
    assert says in found["invalid_params"][0]["reason"], found
    assert (await api.get("/api/schedules")).json() == []


async def test_bad_names_are_400(api: Client) -> None:
    for path in (f"/api/schedules/{'x' * 129}", "/api/schedules/%20"):
        for response in (
            await api.get(path),
            await api.put(path, json={"cron": "@daily"}),
            await api.delete(path),
        ):
            assert invalid_names(problem(response, 400)) == ["name"], response.text


async def test_each_change_is_audited_with_the_tokens_name(secured: Client) -> None:
    api = secured
    assert (await api.get("/api/schedules")).status_code == 401
    made = await api.put(
        "/api/schedules/report", json={"cron": "@daily", "reason": "new"}, headers=ALICE
    )
    assert made.status_code == 200, made.text
    replaced = await api.put("/api/schedules/report", json={"cron": "@hourly"}, headers=BOB)
    assert replaced.status_code == 200, replaced.text
    removed = await api.delete("/api/schedules/report", params={"reason": "gone"}, headers=ALICE)
    assert removed.status_code == 200, removed.text
    trail = (await api.get("/api/audit", headers=BOB)).json()["items"]
    assert [
        (
            i["action"],
            i["actor"],
            i["reason"],
            (i["before"] or {}).get("cron"),
            (i["after"] or {}).get("cron"),
        )
        for i in reversed(trail)
    ] == [
        ("schedule", "alice", "new", None, "@daily"),
        ("schedule", "bob", None, "@daily", "@hourly"),
        ("unschedule", "alice", "gone", "@hourly", None),
    ]
