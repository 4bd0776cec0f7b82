"""The audit trail over REST: the actor is the token's name, a reason on every admin route, and
``GET /api/audit`` with its filters, keyset pages and 400s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import create_app
from api.auth import parse_tokens, tokens_from_env
from taskq import client
from taskq.settings import ConfigError
from tests.api.conftest import Client, fail_task
from tests.api.test_tasks import invalid_names, problem

TOKENS = {"alice": "alice-s3cret", "bob": "bob-s3cret"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[tuple[Client, Litestar]]:
    app = create_app(database_url, api_tokens=TOKENS, pool_timeout=1.0, pool_max_size=1)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client, app


async def trail(api: Client, headers: dict[str, str] | None = None, **params: Any) -> Any:
    response = await api.get("/api/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_admin_act_is_recorded_with_the_tokens_name(
    secured: tuple[Client, Litestar], db: client.Connection
) -> None:
    api, app = secured
    failed = await client.enqueue(db, "y", max_attempts=1)
    await fail_task(db, failed)
    task_id = (await api.post("/api/tasks/", json={"name": "x"}, headers=ALICE)).json()["id"]
    calls = [
        api.patch(f"/api/tasks/{task_id}/pause", params={"reason": "hold"}, headers=ALICE),
        api.patch(f"/api/tasks/{task_id}/resume", headers=BOB),
        api.post(f"/api/tasks/{task_id}/cancel", params={"reason": "duplicate"}, headers=BOB),
        api.post(f"/api/tasks/{failed}/retry", params={"reason": "fixed"}, headers=ALICE),
        api.patch(
            "/api/queues/mail",
            json={"concurrency": 4, "paused": True, "reason": "maintenance"},
            headers=BOB,
        ),
        api.patch("/api/queues/mail", json={"paused": False}, headers=ALICE),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 200, response.text
    items = (await trail(api, ALICE))["items"]
    assert [(i["action"], i["actor"], i["reason"]) for i in reversed(items)] == [
        ("pause", "alice", "hold"),
        ("resume", "bob", None),
        ("cancel", "bob", "duplicate"),
        ("retry", "alice", "fixed"),
        ("set_concurrency", "bob", "maintenance"),
        ("pause_queue", "bob", "maintenance"),
        ("resume_queue", "alice", None),
    ]
    cancel = items[4]
    assert cancel["task_id"] == task_id
    assert cancel["queue"] == "default"
    assert cancel["before"] == {"status": "QUEUED", "cancel_requested": False}
    assert cancel["after"] == {"status": "CANCELLED", "cancel_requested": False}
    assert items[2]["before"] == {"concurrency": 2}
    assert items[2]["after"] == {"concurrency": 4}
    assert items[0]["task_id"] is None
    assert datetime.fromisoformat(cancel["at"]).utcoffset() == timedelta(0)
    assert cancel["db_user"]
    # the setting ended with each act's transaction: the pooled connection keeps no actor.
    # The app and its pool run on the test client's portal, an event loop in another thread:
    # the pool is asked there (from this loop, its locks would be shared by two loops).

    async def actor_setting() -> Any:
        async with app.state.database.pool.connection() as conn:
            cursor = await conn.execute("SELECT current_setting('taskq.actor', true)")
            return await cursor.fetchone()

    assert api.blocking_portal.call(actor_setting) in ((None,), ("",))


async def test_a_refused_act_and_a_bad_reason_write_no_row(
    secured: tuple[Client, Litestar],
) -> None:
    api, _ = secured
    task_id = (await api.post("/api/tasks/", json={"name": "x"}, headers=ALICE)).json()["id"]
    problem(await api.post(f"/api/tasks/{task_id}/retry", headers=ALICE), 409)
    long = "r" * 1001
    body = problem(
        await api.post(f"/api/tasks/{task_id}/cancel", params={"reason": long}, headers=ALICE),
        400,
    )
    assert invalid_names(body) == ["reason"]
    body = problem(
        await api.patch("/api/queues/q", json={"paused": True, "reason": long}, headers=ALICE),
        400,
    )
    assert invalid_names(body) == ["reason"]
    body = problem(
        await api.patch("/api/queues/q", json={"paused": True, "reason": 5}, headers=ALICE), 400
    )
    assert invalid_names(body) == ["reason"]
    nul = await api.patch(f"/api/tasks/{task_id}/pause", params={"reason": "a\x00b"}, headers=ALICE)
    problem(nul, 400)
    assert (await trail(api, ALICE))["items"] == []
    assert (await api.get(f"/api/tasks/{task_id}", headers=ALICE)).json()["status"] == "QUEUED"


async def test_the_trail_wants_a_token_and_each_token_is_its_own(
    secured: tuple[Client, Litestar],
) -> None:
    api, _ = secured
    problem(await api.get("/api/audit"), 401)
    problem(await api.get("/api/audit", headers={"Authorization": "Bearer alice"}), 401)
    problem(
        await api.get("/api/audit", headers={"Authorization": f"Bearer {TOKENS['alice']}x"}), 401
    )
    problem(await api.get("/api/audit", headers={"Authorization": f"Basic {TOKENS['bob']}"}), 401)
    await api.patch("/api/queues/q", json={"paused": True}, headers=BOB)
    assert [i["actor"] for i in (await trail(api, ALICE))["items"]] == ["bob"]


async def test_the_single_token_is_named_api_and_no_token_names_nobody(
    database_url: str, api: Client
) -> None:
    await api.patch("/api/queues/q", json={"paused": True})
    app = create_app(database_url, api_token="only-one", pool_timeout=1.0)
    async with AsyncTestClient(app=app) as single:
        auth = {"Authorization": "Bearer only-one"}
        response = await single.patch("/api/queues/q", json={"paused": False}, headers=auth)
        assert response.status_code == 200
    assert [i["actor"] for i in (await trail(api))["items"]] == ["api", None]


async def test_filters_and_keyset_pages(api: Client, db: client.Connection) -> None:
    first = await client.enqueue(db, "x", queue="a")
    second = await client.enqueue(db, "x", queue="b")
    start = datetime.now(UTC) - timedelta(seconds=1)
    for task_id in (first, second, first):
        assert (await api.patch(f"/api/tasks/{task_id}/pause")).status_code == 200
    await api.patch("/api/queues/a", json={"paused": True})
    await api.post(f"/api/tasks/{first}/cancel", params={"reason": "done"})
    everything = (await trail(api))["items"]
    ids = [i["id"] for i in everything]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 5

    seen: list[int] = []
    cursor = None
    for _ in range(5):
        page = await trail(api, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    def picked(page: Any) -> list[int]:
        return [i["id"] for i in page["items"]]

    assert picked(await trail(api, task_id=str(first))) == [ids[0], ids[2], ids[4]]
    assert picked(await trail(api, queue="a")) == [ids[0], ids[1], ids[2], ids[4]]
    assert picked(await trail(api, action="pause", queue="a")) == [ids[2], ids[4]]
    assert picked(await trail(api, action="cancel")) == [ids[0]]
    third_at = everything[2]["at"]
    assert picked(await trail(api, since=third_at)) == ids[:3]
    assert picked(await trail(api, before=third_at)) == ids[3:]
    naive = start.replace(tzinfo=None).isoformat()  # read as UTC
    assert picked(await trail(api, since=naive)) == ids
    assert picked(await trail(api, before=naive)) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": 0}, "cursor"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": str(2**63)}, "cursor"),
        ({"task_id": "not-a-uuid"}, "task_id"),
        ({"since": "yesterday"}, "since"),
        ({"before": "2030-13-01T00:00:00"}, "before"),
        # a bare number is no date-time, though a parser of Unix times would take it
        ({"before": "5"}, "before"),
        ({"since": "0"}, "since"),
        ({"since": "9999-12-31T23:59:59-23:59"}, "since"),
        ({"queue": "q" * 129}, "queue"),
        ({"action": "a" * 65}, "action"),
    ],
)
async def test_bad_parameters_are_400(api: Client, params: dict[str, Any], field: str) -> None:
    body = problem(await api.get("/api/audit", params=params), 400)
    assert invalid_names(body) == [field]


def test_named_tokens_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_tokens(" alice=s1 , bob=s2,") == {"alice": "s1", "bob": "s2"}
    assert parse_tokens("carol=a=b") == {"carol": "a=b"}
    for bad in ("alice", "=s1", "alice=", "a=s1,a=s2", "a=s1,b=s1", "n" * 129 + "=s"):
        with pytest.raises(ConfigError):
            parse_tokens(bad)
    monkeypatch.setenv("TASKQ_API_TOKENS", "alice=s1")
    monkeypatch.setenv("TASKQ_API_TOKEN", "single")
    assert tokens_from_env() == {"alice": "s1", "api": "single"}
    monkeypatch.setenv("TASKQ_API_TOKENS", "api=s1")
    with pytest.raises(ConfigError, match="rename one"):
        tokens_from_env()
    # set but holding no token: refused, never an API open to all
    for blank in (",", " ", " , ,"):
        monkeypatch.setenv("TASKQ_API_TOKENS", blank)
        with pytest.raises(ConfigError, match="holds no name=token"):
            tokens_from_env()
    monkeypatch.setenv("TASKQ_API_TOKENS", "")
    monkeypatch.setenv("TASKQ_API_TOKEN", "  ")
    with pytest.raises(ConfigError, match="blank"):
        tokens_from_env()
    monkeypatch.setenv("TASKQ_API_TOKEN", "")
    assert tokens_from_env() == {}
    monkeypatch.delenv("TASKQ_API_TOKENS")
    monkeypatch.delenv("TASKQ_API_TOKEN")
    assert tokens_from_env() == {}


async def test_the_actor_is_set_behind_pgbouncer(pooled_database_url: str) -> None:
    app = create_app(pooled_database_url, api_tokens=TOKENS, pool_timeout=5.0, prepare="off")
    async with AsyncTestClient(app=app) as api:
        for headers in (ALICE, BOB, ALICE, BOB):
            response = await api.patch("/api/queues/pooled", json={"paused": True}, headers=headers)
            assert response.status_code == 200, response.text
        items = (await trail(api, ALICE))["items"]
    assert [i["actor"] for i in reversed(items)] == ["alice", "bob", "alice", "bob"]
