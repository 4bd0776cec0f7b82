"""What the SQL functions accept, so that every worker and client can read what they stored:
JSON nested at most 64 levels, times in years 1 to 9999 UTC, JSON values of the right type, one
rule for task and queue names, a bounded page size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

RANGE = "between 0001-01-01 and 9999-12-31 UTC"
BAD_TIMES = ["-infinity", "infinity", "0044-03-15 00:00:00+00 BC", "10000-01-01 00:00:00+00"]


def nested(depth: int, kind: str) -> str:
    """A JSON text whose innermost value lies depth levels below the top."""
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    return '{"a":[' * (depth // 2) + "1" + "]}" * (depth // 2)


def tasks_count(conn: Conn) -> int:
    return int(one(conn, "SELECT count(*) FROM taskq.tasks"))


# --- nesting ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["object", "array", "both"])
def test_a_payload_nested_64_levels_is_accepted_65_refused(conn: Conn, kind: str) -> None:
    deepest = nested(64, kind)
    payload = deepest if kind != "array" else '{"a":' + nested(63, kind) + "}"
    enqueue(conn, payload=payload)
    too_deep = nested(66, kind) if kind == "both" else nested(65, kind)
    if kind == "array":
        too_deep = '{"a":' + nested(64, kind) + "}"
    for payload in (too_deep, nested(3000, "object" if kind == "both" else kind)):
        if payload.startswith("["):
            payload = '{"a":' + payload + "}"
        with raises_sqlstate("22023", "payload is nested deeper than 64 levels"):
            enqueue(conn, payload=payload)
        with raises_sqlstate("22023", "task #2: payload is nested deeper than 64 levels"):
            conn.execute(
                'SELECT taskq.enqueue_many(jsonb_build_array(\'{"name": "x"}\'::jsonb,'
                " jsonb_build_object('name', 'y', 'payload', %s::jsonb)))",
                (payload,),
            )
    assert tasks_count(conn) == 1


def test_a_result_nested_deeper_than_64_levels_is_refused(conn: Conn, worker_id: UUID) -> None:
    first, second = enqueue(conn), enqueue(conn)
    tokens = {r["id"]: r["lease_token"] for r in claim(conn, worker_id, batch_size=2)}
    with raises_sqlstate("22023", "result is nested deeper than 64 levels"):
        conn.execute(
            "SELECT taskq.complete(%s, %s, %s::jsonb)",
            (first, tokens[first], nested(65, "array")),
        )
    with raises_sqlstate("22023", "complete_many: item #2: result is nested deeper"):
        conn.execute(
            "SELECT taskq.complete_many(jsonb_build_array("
            "jsonb_build_object('task_id', %s::text, 'lease_token', %s::text),"
            "jsonb_build_object('task_id', %s::text, 'lease_token', %s::text,"
            " 'result', %s::jsonb)))",
            (first, tokens[first], second, tokens[second], nested(65, "object")),
        )
    assert {task(conn, t)["status"] for t in (first, second)} == {"RUNNING"}
    conn.execute(
        "SELECT taskq.complete(%s, %s, %s::jsonb)", (first, tokens[first], nested(64, "array"))
    )
    assert task(conn, first)["status"] == "COMPLETED"


# --- times --------------------------------------------------------------------------------------
@pytest.mark.parametrize("at", BAD_TIMES)
def test_enqueue_refuses_a_time_no_client_can_read(conn: Conn, at: str) -> None:
    with raises_sqlstate("22008", RANGE):
        conn.execute("SELECT taskq.enqueue('x', scheduled_at => %s::timestamptz)", (at,))
    with raises_sqlstate("22008", f"task #2: scheduled_at must be {RANGE}"):
        conn.execute(
            "SELECT taskq.enqueue_many(%s)",
            (Jsonb([{"name": "x"}, {"name": "y", "scheduled_at": at}]),),
        )
    assert tasks_count(conn) == 0


def test_the_edges_of_the_time_range_are_accepted(conn: Conn) -> None:
    for at in ("0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00"):
        enqueue(conn, scheduled_at=at)
    conn.execute(
        "SELECT taskq.enqueue_many(%s)",
        (Jsonb([{"name": "x", "scheduled_at": "9999-12-31T23:59:59Z"}]),),
    )
    assert tasks_count(conn) == 3


def class_22(call: Any) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        call()
    assert (info.value.sqlstate or "").startswith("22"), info.value
    return info.value


@pytest.mark.parametrize("delay", ["10000 years", "200000000 years", "infinity"])
def test_a_lease_or_retry_delay_past_9999_is_refused(
    conn: Conn, worker_id: UUID, delay: str
) -> None:
    # 'infinity' is an interval from PostgreSQL 17 on (before, its input is 22007); 200 million
    # years is past the range of PostgreSQL's interval input itself (22008 there)
    bounded = delay == "10000 years" or (delay == "infinity" and conn.info.server_version >= 170000)
    task_id = enqueue(conn)
    for call in (
        lambda: claim(conn, worker_id, lease=delay),
        lambda: conn.execute("SELECT taskq.heartbeat(%s, %s::interval)", (worker_id, delay)),
    ):
        error = class_22(call)
        if bounded:
            assert error.sqlstate == "22008", error
            assert "after 9999-12-31 UTC" in str(error), error
    [row] = claim(conn, worker_id)
    for call in (
        lambda: conn.execute(
            "SELECT taskq.fail(%s, %s, 'x', %s::interval)", (task_id, row["lease_token"], delay)
        ),
        lambda: conn.execute(
            "SELECT taskq.fail_many(%s)",
            (
                Jsonb(
                    [
                        {
                            "task_id": str(task_id),
                            "lease_token": str(row["lease_token"]),
                            "error": "x",
                            "retry_delay": delay,
                        }
                    ]
                ),
            ),
        ),
    ):
        error = class_22(call)
        if bounded:
            assert error.sqlstate == "22008", error
            assert "retry_delay" in str(error), error
    assert task(conn, task_id)["status"] == "RUNNING"


@pytest.mark.parametrize("at", ["infinity", "-infinity", "1969-12-31 23:59:59+00", "10000-01-01"])
def test_uuid_v7_refuses_an_instant_a_uuid_v7_cannot_hold(conn: Conn, at: str) -> None:
    with raises_sqlstate("22008", "between 1970-01-01 and 9999-12-31 UTC"):
        conn.execute("SELECT taskq.uuid_v7(%s::timestamptz)", (at,))
    for edge in ("1970-01-01 00:00:00+00", "9999-12-31 23:59:59+00"):
        assert isinstance(one(conn, "SELECT taskq.uuid_v7(%s::timestamptz)", (edge,)), UUID)


# --- JSON types of enqueue_many -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "want"),
    [
        ("name", 5, "string"),
        ("name", {"a": 1}, "string"),
        ("name", True, "string"),
        ("name", ["x"], "string"),
        ("queue", 5, "string"),
        ("queue", {"a": 1}, "string"),
        ("priority", 2, "string"),
        ("scheduled_at", 1700000000, "string"),
        ("max_attempts", "3", "number"),
        ("max_attempts", [3], "number"),
    ],
)
def test_enqueue_many_refuses_a_value_of_the_wrong_json_type(
    conn: Conn, key: str, value: object, want: str
) -> None:
    item = {"name": "y", key: value}
    with raises_sqlstate("22023", f"task #2: {key} must be a JSON {want}"):
        conn.execute("SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "x"}, item]),))
    assert tasks_count(conn) == 0


def test_enqueue_many_other_bad_values_are_class_22(conn: Conn) -> None:
    for item in ({"name": "x", "max_attempts": 3.5}, {"name": "x", "max_attempts": 1e20}):
        class_22(lambda item=item: conn.execute("SELECT taskq.enqueue_many(%s)", (Jsonb([item]),)))
    # null stands for the default, as in enqueue
    [task_id] = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM taskq.enqueue_many(%s)",
            (
                Jsonb(
                    [
                        {
                            "name": "x",
                            "queue": None,
                            "priority": None,
                            "scheduled_at": None,
                            "max_attempts": None,
                            "payload": None,
                        }
                    ]
                ),
            ),
        ).fetchall()
    ]
    row = task(conn, task_id)
    assert (row["queue"], row["priority"], row["max_attempts"]) == ("default", "MEDIUM", 3)


# --- one rule for names -------------------------------------------------------------------------
QUEUE_CALLS = [
    "SELECT taskq.enqueue('x', queue => %s)",
    "SELECT taskq.set_concurrency(%s, 3)",
    "SELECT taskq.pause_queue(%s)",
    "SELECT taskq.resume_queue(%s)",
    "SELECT taskq.enqueue_many(jsonb_build_array("
    "jsonb_build_object('name', 'x', 'queue', %s::text)))",
]


@pytest.mark.parametrize("name", ["", "   ", "\t \n", "q" * 129])
def test_task_and_queue_names_follow_one_rule(conn: Conn, name: str) -> None:
    message = "must be at most 128 characters" if len(name) > 128 else "must not be empty or blank"
    with raises_sqlstate("22023", f"name {message}"):
        conn.execute("SELECT taskq.enqueue(%s)", (name,))
    for call in QUEUE_CALLS:
        with raises_sqlstate("22023", f"queue name {message}"):
            conn.execute(call, (name,))
    assert one(conn, "SELECT count(*) FROM taskq.queues") == 0
    assert tasks_count(conn) == 0


def test_names_of_128_characters_are_accepted_and_null_queues_refused(conn: Conn) -> None:
    enqueue(conn, "n" * 128, queue="q" * 128)
    for call in QUEUE_CALLS[1:4]:
        with raises_sqlstate("22004", "queue name must not be NULL"):
            conn.execute(call, (None,))
    assert tasks_count(conn) == 1


# --- list_tasks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, -1, None, 1001])
def test_list_tasks_refuses_a_page_size_outside_1_to_1000(conn: Conn, size: int | None) -> None:
    enqueue(conn)
    with raises_sqlstate("22023", "page_size must be between 1 and 1000"):
        conn.execute("SELECT * FROM taskq.list_tasks(page_size => %s::integer)", (size,))
    assert len(conn.execute("SELECT * FROM taskq.list_tasks(page_size => 1000)").fetchall()) == 1


def test_the_lease_is_unchanged_for_a_good_claim(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn)
    [row] = claim(conn, worker_id, lease=timedelta(minutes=5))
    assert row["lease_expires_at"] - row["started_at"] == timedelta(minutes=5)
