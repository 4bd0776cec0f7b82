"""``/api/tasks``: every route and every status code, through the in-process test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self
from uuid import UUID

import msgspec
import psycopg
import pytest

from taskq import client
from taskq.rules import PAGE_MAX
from tests.api.conftest import Client, fail_task, finish_task, start_task

TASK_KEYS = {
    "id",
    "name",
    "queue",
    "payload",
    "priority",
    "status",
    "scheduled_at",
    "created_at",
    "started_at",
    "finished_at",
    "attempts",
    "max_attempts",
    "last_error",
    "result",
    "time_to_execute",
    "unique_key",
    "unique_for",
    "concurrency_key",
    "timeout",
    # a single task's view, not a list's
    "progress",
    "progress_at",
    "errors",
    "trace_context",
}
MISSING = "01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11"
PROBLEM = "application/problem+json"


async def create(api: Client, **body: Any) -> dict[str, Any]:
    response = await api.post("/api/tasks/", json={"name": "echo", **body})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"].startswith("urn:taskq:problem:")
    assert body["detail"]
    return body


def invalid_names(body: dict[str, Any]) -> list[str]:
    return [param["name"] for param in body.get("invalid_params") or []]


# -- POST /api/tasks -----------------------------------------------------------------------------


async def test_the_seed_example_creates_a_scheduled_high_task_read_as_utc(api: Client) -> None:
    response = await api.post(
        "/api/tasks/",
        headers={"Content-Type": "application/json"},
        content=b'{"name": "send_email", "payload": {"to": "a@example.com"}, '
        b'"priority": "HIGH", "scheduled_at": "2030-01-01T10:00:00"}',
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert set(task) == TASK_KEYS | {"created"}
    assert task["created"] is True
    assert task["name"] == "send_email"
    assert task["payload"] == {"to": "a@example.com"}
    assert task["priority"] == "HIGH"
    assert task["status"] == "QUEUED"
    assert task["scheduled_at"] == "2030-01-01T10:00:00+00:00"
    assert task["queue"] == "default"
    assert task["attempts"] == 0
    assert task["max_attempts"] == 3
    assert task["started_at"] is None
    assert task["time_to_execute"] is None
    created = datetime.fromisoformat(task["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    UUID(task["id"])


async def test_create_works_without_the_trailing_slash(api: Client) -> None:
    response = await api.post("/api/tasks", json={"name": "echo"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "echo"


async def test_create_keeps_the_instant_of_an_offset_and_answers_in_utc(api: Client) -> None:
    task = await create(api, scheduled_at="2030-01-01T12:00:00+02:00", queue="mail", max_attempts=5)
    assert task["scheduled_at"] == "2030-01-01T10:00:00+00:00"
    assert task["queue"] == "mail"
    assert task["max_attempts"] == 5


async def test_create_defaults_come_from_sql(api: Client) -> None:
    task = await create(api, payload=None, priority=None, scheduled_at=None)
    assert task["payload"] == {}
    assert task["priority"] == "MEDIUM"
    scheduled = datetime.fromisoformat(task["scheduled_at"])
    assert abs(datetime.now(UTC) - scheduled) < timedelta(minutes=1)


async def test_an_unknown_priority_is_400_naming_the_field(api: Client) -> None:
    response = await api.post("/api/tasks/", json={"name": "x", "priority": "URGENT"})
    body = problem(response, 400)
    assert invalid_names(body) == ["priority"]
    assert "URGENT" in body["detail"]


async def test_a_scheduled_at_that_is_not_a_date_is_400(api: Client) -> None:
    response = await api.post("/api/tasks/", json={"name": "x", "scheduled_at": "tomorrow"})
    body = problem(response, 400)
    assert invalid_names(body) == ["scheduled_at"]


@pytest.mark.parametrize("moment", [1893492000, 1.5, True, "2030-01-01", "10:00"])
async def test_a_scheduled_at_that_is_a_number_or_no_datetime_is_400(
    api: Client, moment: Any
) -> None:
    response = await api.post("/api/tasks/", json={"name": "x", "scheduled_at": moment})
    assert invalid_names(problem(response, 400)) == ["scheduled_at"]


async def test_types_are_strict_but_a_whole_float_is_an_integer(api: Client) -> None:
    body = problem(await api.post("/api/tasks/", json={"name": "x", "max_attempts": "5"}), 400)
    assert invalid_names(body) == ["max_attempts"]
    body = problem(await api.post("/api/tasks/", json={"name": 5}), 400)
    assert invalid_names(body) == ["name"]
    assert (await create(api, max_attempts=5.0))["max_attempts"] == 5


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_scheduled_at_out_of_range_is_400(api: Client, moment: str) -> None:
    response = await api.post("/api/tasks/", json={"name": "x", "scheduled_at": moment})
    assert invalid_names(problem(response, 400)) == ["scheduled_at"]


async def test_a_body_that_is_not_json_is_400(api: Client) -> None:
    response = await api.post(
        "/api/tasks/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    body = problem(response, 400)
    assert "JSON" in body["detail"] or "json" in body["detail"]


async def test_a_missing_name_is_400(api: Client) -> None:
    body = problem(await api.post("/api/tasks/", json={"payload": {}}), 400)
    assert invalid_names(body) == ["name"]


async def test_an_unknown_field_is_400(api: Client) -> None:
    body = problem(await api.post("/api/tasks/", json={"name": "x", "colour": "red"}), 400)
    assert "colour" in body["detail"]


@pytest.mark.parametrize("name", ["   ", "\t", " \r\n ", "n" * 129])
async def test_a_name_the_sql_refuses_is_400_with_its_field(api: Client, name: str) -> None:
    """The schema states the SQL's name rule, so what it accepts the SQL accepts too."""
    body = problem(await api.post("/api/tasks/", json={"name": name}), 400)
    assert invalid_names(body) == ["name"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_attempts", 0), ("payload", [1, 2]), ("queue", ""), ("queue", "q" * 129)],
)
async def test_bad_arguments_are_400_naming_the_field(api: Client, field: str, value: Any) -> None:
    body = problem(await api.post("/api/tasks/", json={"name": "x", field: value}), 400)
    assert invalid_names(body) == [field]


async def test_a_nul_character_is_400_not_500(api: Client) -> None:
    in_name = problem(await api.post("/api/tasks/", json={"name": "a\u0000b"}), 400)
    assert "NUL" in in_name["hint"]
    in_payload = {"name": "x", "payload": {"k": ["\u0000"]}}
    body = problem(await api.post("/api/tasks/", json=in_payload), 400)
    assert invalid_names(body) == ["payload"]
    assert "NUL" in body["hint"]
    problem(await api.get("/api/tasks", params={"queue": "\u0000"}), 400)
    problem(await api.patch("/api/queues/a%00b", json={"paused": True}), 400)


async def test_an_oversized_body_is_413(api: Client) -> None:
    big = {"name": "x", "payload": {"blob": "a" * (1024 * 1024 + 1)}}
    body = problem(await api.post("/api/tasks/", json=big), 413)
    assert "1048576" in body["detail"]


# -- GET /api/tasks/{id} -------------------------------------------------------------------------


async def test_get_answers_the_task(api: Client) -> None:
    created = await create(api, payload={"n": 1})
    response = await api.get(f"/api/tasks/{created['id']}")
    assert response.status_code == 200
    assert {**response.json(), "created": True} == created


async def test_get_shows_the_error_of_every_attempt(api: Client, db: client.Connection) -> None:
    created = await create(api, max_attempts=2)
    task_id = UUID(created["id"])
    assert created["errors"] == []
    for error in ("first: Traceback ...", "second: <b>boom</b>"):
        task = await start_task(db, task_id)
        assert task.lease_token is not None
        await client.fail(db, task_id, task.lease_token, error, retry_delay=timedelta(0))
    task = (await api.get(f"/api/tasks/{task_id}")).json()
    assert task["status"] == "FAILED"
    assert [(e["attempt"], e["error"]) for e in task["errors"]] == [
        (1, "first: Traceback ..."),
        (2, "second: <b>boom</b>"),
    ]
    assert all(datetime.fromisoformat(e["at"]) for e in task["errors"])


async def test_get_an_unknown_task_is_404_naming_it(api: Client) -> None:
    body = problem(await api.get(f"/api/tasks/{MISSING}"), 404)
    assert body["task_id"] == MISSING
    assert MISSING in body["detail"]


async def test_a_malformed_uuid_is_400_naming_the_parameter(api: Client) -> None:
    body = problem(await api.get("/api/tasks/not-a-uuid"), 400)
    assert invalid_names(body) == ["task_uuid"]
    for route in ("pause", "resume"):
        problem(await api.patch(f"/api/tasks/123/{route}"), 400)
    for route in ("cancel", "retry"):
        problem(await api.post(f"/api/tasks/123/{route}"), 400)


async def test_time_to_execute_runs_while_running_and_stops_when_done(
    api: Client, db: client.Connection
) -> None:
    created = await create(api)
    task_id = UUID(created["id"])
    running = await start_task(db, task_id)
    seen = (await api.get(f"/api/tasks/{task_id}")).json()
    assert seen["status"] == "RUNNING"
    assert seen["attempts"] == 1
    assert seen["started_at"] is not None
    assert seen["time_to_execute"] >= 0
    assert "lease_token" not in seen
    assert running.lease_token is not None
    await client.complete(db, task_id, running.lease_token, {"ok": True})
    done = (await api.get(f"/api/tasks/{task_id}")).json()
    assert done["status"] == "COMPLETED"
    assert done["result"] == {"ok": True}
    finished = datetime.fromisoformat(done["finished_at"])
    started = datetime.fromisoformat(done["started_at"])
    assert done["time_to_execute"] == pytest.approx((finished - started).total_seconds())


# -- pause / resume / cancel / retry -------------------------------------------------------------


async def test_pause_then_resume(api: Client) -> None:
    created = await create(api)
    paused = await api.patch(f"/api/tasks/{created['id']}/pause")
    assert paused.status_code == 200
    assert paused.json()["status"] == "PAUSED"
    resumed = await api.patch(f"/api/tasks/{created['id']}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "QUEUED"
    assert resumed.json()["scheduled_at"] == created["scheduled_at"]


async def test_pause_a_running_task_is_409_naming_the_task_and_status(
    api: Client, db: client.Connection
) -> None:
    created = await create(api)
    await start_task(db, UUID(created["id"]))
    body = problem(await api.patch(f"/api/tasks/{created['id']}/pause"), 409)
    assert body["task_id"] == created["id"]
    assert body["task_status"] == "RUNNING"
    assert "RUNNING" in body["detail"]
    body = problem(await api.patch(f"/api/tasks/{created['id']}/resume"), 409)
    assert body["task_status"] == "RUNNING"


async def test_cancel_a_queued_task_then_retry_it(api: Client) -> None:
    created = await create(api)
    cancelled = await api.post(f"/api/tasks/{created['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["finished_at"] is not None
    retried = await api.post(f"/api/tasks/{created['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "QUEUED"
    assert retried.json()["attempts"] == 0


async def test_cancel_a_running_task_asks_and_it_stays_running(
    api: Client, db: client.Connection
) -> None:
    created = await create(api)
    await start_task(db, UUID(created["id"]))
    response = await api.post(f"/api/tasks/{created['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "RUNNING"


async def test_cancel_a_completed_task_is_409(api: Client, db: client.Connection) -> None:
    created = await create(api)
    await finish_task(db, UUID(created["id"]))
    body = problem(await api.post(f"/api/tasks/{created['id']}/cancel"), 409)
    assert body["task_status"] == "COMPLETED"


async def test_retry_a_failed_task(api: Client, db: client.Connection) -> None:
    created = await create(api, max_attempts=1)
    await fail_task(db, UUID(created["id"]))
    failed = (await api.get(f"/api/tasks/{created['id']}")).json()
    assert failed["status"] == "FAILED"
    assert failed["last_error"] == "boom"
    retried = await api.post(f"/api/tasks/{created['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "QUEUED"


async def test_retry_a_queued_task_is_409(api: Client) -> None:
    created = await create(api)
    body = problem(await api.post(f"/api/tasks/{created['id']}/retry"), 409)
    assert body["task_status"] == "QUEUED"


@pytest.mark.parametrize(
    ("method", "route"),
    [("PATCH", "pause"), ("PATCH", "resume"), ("POST", "cancel"), ("POST", "retry")],
)
async def test_transitions_of_an_unknown_task_are_404(api: Client, method: str, route: str) -> None:
    response = await api.request(method, f"/api/tasks/{MISSING}/{route}")
    assert problem(response, 404)["task_id"] == MISSING


# -- GET /api/tasks ------------------------------------------------------------------------------


async def test_list_pages_through_every_task_newest_first(api: Client) -> None:
    ids = [(await create(api, payload={"i": i}))["id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await api.get("/api/tasks", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        seen += [task["id"] for task in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_list_filters_by_status_queue_and_name(api: Client) -> None:
    a = await create(api, name="a", queue="q1")
    await create(api, name="b", queue="q1")
    c = await create(api, name="a", queue="q2")
    await api.patch(f"/api/tasks/{c['id']}/pause")

    async def ids(**params: str) -> list[str]:
        response = await api.get("/api/tasks/", params=params)
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()["items"]]

    assert await ids(name="a") == [c["id"], a["id"]]
    assert await ids(name="a", queue="q1") == [a["id"]]
    assert await ids(status="PAUSED") == [c["id"]]
    assert await ids(status="COMPLETED") == []


async def test_list_default_limit_is_50(api: Client, db: client.Connection) -> None:
    await client.enqueue_many(db, [{"name": "bulk"}] * 51)
    page = (await api.get("/api/tasks")).json()
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
    rest = (await api.get("/api/tasks", params={"cursor": page["next_cursor"]})).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": str(PAGE_MAX + 1)}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"cursor": "nope"}, "cursor"),
    ],
)
async def test_list_bad_parameters_are_400_naming_them(
    api: Client, params: dict[str, str], name: str
) -> None:
    body = problem(await api.get("/api/tasks", params=params), 400)
    assert invalid_names(body) == [name]


async def test_list_accepts_the_largest_limit(api: Client) -> None:
    response = await api.get("/api/tasks", params={"limit": PAGE_MAX})
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


# -- GET /api/tasks?include= ---------------------------------------------------------------------

LARGE = {"payload", "result"}
ONE_TASK_ONLY = {"progress", "progress_at", "errors"}
PROGRESS = {"progress", "progress_at", "trace_context"}


async def test_list_leaves_payload_and_result_out_unless_included(
    api: Client, db: client.Connection
) -> None:
    created = await create(api, payload={"big": "x" * 1000})
    await finish_task(db, UUID(created["id"]), result={"answer": 42})
    whole = (await api.get(f"/api/tasks/{created['id']}")).json()
    assert set(whole) == TASK_KEYS
    for include, shown in [
        (None, set()),
        ("payload", {"payload"}),
        ("result", {"result"}),
        ("payload,result", LARGE),
        ("result,payload", LARGE),
        ("payload,payload", {"payload"}),
    ]:
        params = {} if include is None else {"include": include}
        response = await api.get("/api/tasks", params=params)
        assert response.status_code == 200, response.text
        [item] = response.json()["items"]
        assert set(item) == (TASK_KEYS - LARGE - ONE_TASK_ONLY) | shown, include
        assert item == {key: whole[key] for key in item}
    assert whole["payload"] == {"big": "x" * 1000}
    assert whole["result"] == {"answer": 42}


@pytest.mark.parametrize(
    "include", ["", "errors", "payload,", "payload,lease_token", "PAYLOAD", " payload"]
)
async def test_list_unknown_include_is_400_naming_it(api: Client, include: str) -> None:
    body = problem(await api.get("/api/tasks", params={"include": include}), 400)
    assert invalid_names(body) == ["include"]


class ColumnsSeen(psycopg.AsyncCursor[Any]):
    """A cursor that notes the columns of every result it gets."""

    seen: ClassVar[list[list[str]]] = []

    async def execute(self, *args: Any, **kwargs: Any) -> Self:
        done = await super().execute(*args, **kwargs)
        self.seen.append([column.name for column in self.description or []])
        return done


async def test_list_does_not_read_payloads_from_the_database_unless_included(
    database_url: str,
) -> None:
    """The page's query selects the columns it shows: what is left out never leaves PostgreSQL."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, cursor_factory=ColumnsSeen
    ) as conn:
        await client.enqueue(conn, "big", {"blob": "y" * 1000})
        ColumnsSeen.seen.clear()
        summary = await client.list_tasks(conn, include=())
        [task] = summary.items
        assert task.payload is msgspec.UNSET
        assert task.result is msgspec.UNSET
        with_payload = await client.list_tasks(conn, include=["payload"])
        assert with_payload.items[0].payload == {"blob": "y" * 1000}
        assert with_payload.items[0].result is msgspec.UNSET
        whole = await client.list_tasks(conn)
        assert whole.items[0].payload == {"blob": "y" * 1000}
        assert whole.items[0].result is None
    summary_columns, payload_columns, whole_columns = ColumnsSeen.seen
    assert "id" in summary_columns
    assert not LARGE & set(summary_columns)
    assert LARGE & set(payload_columns) == {"payload"}
    assert set(whole_columns) - set(summary_columns) == LARGE


async def test_a_taken_unique_key_answers_200_with_the_holder(api: Client) -> None:
    first = await create(api, unique_key="report:7", unique_for="PT10M", timeout="PT30S")
    assert first["created"] is True
    assert (first["unique_key"], first["unique_for"], first["timeout"]) == (
        "report:7",
        "PT600S",
        "PT30S",
    )
    again = await api.post("/api/tasks/", json={"name": "other", "unique_key": "report:7"})
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["id"] == first["id"]
    assert again.json()["name"] == "echo"


async def test_bad_task_options_are_400_naming_the_field(api: Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"unique_key": ""}, "unique_key"),
        ({"unique_key": "k" * 257}, "unique_key"),
        ({"unique_key": "   "}, "unique_key"),
        ({"concurrency_key": ""}, "concurrency_key"),
        ({"unique_for": "-PT5M"}, "unique_for"),
        ({"timeout": "PT0S"}, "timeout"),
        ({"timeout": "-PT1S"}, "timeout"),
        ({"timeout": "P1M"}, "timeout"),
        ({"timeout": 30}, "timeout"),
    ]
    for body, field in cases:
        response = await api.post("/api/tasks/", json={"name": "echo", **body})
        assert invalid_names(problem(response, 400)) == [field], (body, response.text)
        # one task: the message is about the body, not about element #1 of a batch
        assert "task #" not in response.json()["detail"], response.text


# -- POST /api/tasks/: traceparent and tracestate -------------------------------------------------

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_create_stores_the_request_trace_context(api: Client) -> None:
    response = await api.post(
        "/api/tasks/",
        json={"name": "echo"},
        headers={"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"},
    )
    assert response.status_code == 201, response.text
    expected = {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}
    assert response.json()["trace_context"] == expected
    again = await api.get(f"/api/tasks/{response.json()['id']}")
    assert again.json()["trace_context"] == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": "garbage"},
        {"traceparent": TRACEPARENT.upper()},
        {"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"},
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01"},
        {"traceparent": "ff" + TRACEPARENT[2:]},
        {"traceparent": TRACEPARENT + "-00"},
        {"traceparent": "x" * 8000, "tracestate": "a=b"},
        {"tracestate": "congo=t61rcWkgMzE"},
        {},
    ],
)
async def test_create_ignores_an_invalid_traceparent(api: Client, headers: dict[str, str]) -> None:
    response = await api.post("/api/tasks/", json={"name": "echo"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["trace_context"] is None


async def test_create_leaves_out_a_tracestate_it_cannot_keep(api: Client) -> None:
    response = await api.post(
        "/api/tasks/",
        json={"name": "echo"},
        headers={"traceparent": TRACEPARENT, "tracestate": "k=" + "v" * 600},
    )
    assert response.status_code == 201, response.text
    assert response.json()["trace_context"] == {"traceparent": TRACEPARENT}
