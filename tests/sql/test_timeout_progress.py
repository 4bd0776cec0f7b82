"""Per-task timeouts (the queue's default, the task's own) as taskq.claim hands them to the
worker, and report_progress: fenced by the lease token, size- and depth-limited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, enqueue, one, raises_sqlstate, task

MISSING = UUID("00000000-0000-7000-8000-000000000000")


def lean_claim(conn: Conn, worker_id: UUID, **kwargs: Any) -> list[dict[str, Any]]:
    names = "".join(f", {key} => %({key})s" for key in kwargs)
    with conn.cursor(row_factory=dict_row) as cur:
        sql = f"SELECT * FROM taskq.claim(%(worker_id)s{names})"
        return cur.execute(sql, {"worker_id": worker_id, **kwargs}).fetchall()


def set_default(conn: Conn, queue: str | None, timeout: Any, reason: str | None = None) -> Any:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM taskq.set_default_timeout(%s, %s::interval, %s)",
            (queue, timeout, reason),
        ).fetchone()


# --- timeouts ----------------------------------------------------------------------------------


def test_the_task_timeout_wins_over_the_queue_default(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    plain = enqueue(conn, payload=Jsonb({"n": 0}))
    own = enqueue(conn, payload=Jsonb({"n": 1}))
    conn.execute("UPDATE taskq.tasks SET timeout = '5 seconds' WHERE id = %s", (own,))
    other = enqueue(conn, queue="other")
    # no default: only the task's own
    rows = {
        r["id"]: r["timeout"] for r in lean_claim(conn, worker_id, queues=["default"], batch_size=5)
    }
    assert rows == {plain: None, own: timedelta(seconds=5)}
    conn.execute("UPDATE taskq.tasks SET status = 'QUEUED', worker_id = NULL, lease_token = NULL")
    row = set_default(conn, "default", "30 seconds", "slow handlers")
    assert row["default_timeout"] == timedelta(seconds=30)
    rows = {
        r["id"]: r["timeout"] for r in lean_claim(conn, worker_id, queues=["default"], batch_size=5)
    }
    assert rows == {plain: timedelta(seconds=30), own: timedelta(seconds=5)}
    # a queue's default is its own
    [claimed] = lean_claim(conn, worker_id, queues=["other"])
    assert (claimed["id"], claimed["timeout"]) == (other, None)
    # held_claims: the same timeouts for the tasks whose claim's answer was lost
    with conn.cursor(row_factory=dict_row) as cur:
        held = cur.execute("SELECT * FROM taskq.held_claims(%s)", (worker_id,)).fetchall()
    assert {r["id"]: r["timeout"] for r in held} == {
        plain: timedelta(seconds=30),
        own: timedelta(seconds=5),
        other: None,
    }
    with raises_sqlstate("P0002", "is not registered"):
        conn.execute("SELECT * FROM taskq.held_claims(%s)", (MISSING,))


def test_set_default_timeout_is_audited_and_null_clears_it(conn: Conn) -> None:
    set_default(conn, "q", "1 minute", "why")
    row = set_default(conn, "q", None)
    assert row["default_timeout"] is None
    with conn.cursor(row_factory=dict_row) as cur:
        audit = cur.execute(
            "SELECT action, queue, before, after, reason FROM taskq.audit ORDER BY id"
        ).fetchall()
    assert audit == [
        {
            "action": "set_default_timeout",
            "queue": "q",
            "before": {"timeout": None},
            "after": {"timeout": "00:01:00"},
            "reason": "why",
        },
        {
            "action": "set_default_timeout",
            "queue": "q",
            "before": {"timeout": "00:01:00"},
            "after": {"timeout": None},
            "reason": None,
        },
    ]


@pytest.mark.parametrize(
    "timeout", ["0 seconds", "-1 second", "1 year 1 day", "-1 microsecond", "366 days"]
)
def test_set_default_timeout_refuses_bad_values(conn: Conn, timeout: str) -> None:
    with raises_sqlstate("22023", "timeout must be more than 0 and at most 1 year"):
        set_default(conn, "q", timeout)
    assert one(conn, "SELECT count(*) FROM taskq.audit") == 0


def test_set_default_timeout_refuses_infinity_and_bad_queues(conn: Conn) -> None:
    if conn.info.server_version >= 170000:
        for value in ("infinity", "-infinity"):
            with raises_sqlstate("22023", "timeout must be"):
                set_default(conn, "q", value)
    for queue, sqlstate in ((None, "22004"), ("", "22023"), ("x" * 129, "22023")):
        with raises_sqlstate(sqlstate, "queue name"):
            set_default(conn, queue, "1 second")
    with raises_sqlstate("22001", "reason"):
        set_default(conn, "q", "1 second", "r" * 1001)


# --- progress ----------------------------------------------------------------------------------


def running(conn: Conn, worker_id: UUID) -> dict[str, Any]:
    enqueue(conn)
    [row] = lean_claim(conn, worker_id)
    return row


def report(conn: Conn, task_id: Any, token: Any, value: Any) -> Any:
    return one(conn, "SELECT taskq.report_progress(%s, %s, %s::jsonb)", (task_id, token, value))


def test_progress_is_stored_and_kept_after_the_task_finished(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    at = report(conn, row["id"], row["lease_token"], Jsonb({"done": 1, "of": 10}))
    got = task(conn, row["id"])
    assert (got["progress"], got["progress_at"]) == ({"done": 1, "of": 10}, at)
    report(conn, row["id"], row["lease_token"], Jsonb([1, "two", None]))
    conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
    got = task(conn, row["id"])
    assert (got["status"], got["progress"]) == ("COMPLETED", [1, "two", None])
    # a finished task takes no more
    with raises_sqlstate("55000", "is COMPLETED; only the worker holding"):
        report(conn, row["id"], row["lease_token"], Jsonb(3))
    # NULL clears it while it runs
    row = running(conn, worker_id)
    report(conn, row["id"], row["lease_token"], Jsonb(0.5))
    report(conn, row["id"], row["lease_token"], None)
    assert task(conn, row["id"])["progress"] is None


def test_progress_is_fenced_by_the_lease_token(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    with raises_sqlstate("55000", "is RUNNING; only the worker holding"):
        report(conn, row["id"], MISSING, Jsonb(1))
    with raises_sqlstate("P0002", "does not exist"):
        report(conn, MISSING, row["lease_token"], Jsonb(1))
    with raises_sqlstate("55000"):
        report(conn, row["id"], None, Jsonb(1))
    assert task(conn, row["id"])["progress"] is None


def test_progress_size_and_depth_limits(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    # '"' + 8190 characters + '"': 8192 bytes of JSON text
    report(conn, row["id"], row["lease_token"], Jsonb("x" * 8190))
    with raises_sqlstate("22023", "progress must be at most 8192 bytes of JSON text, not 8193"):
        report(conn, row["id"], row["lease_token"], Jsonb("x" * 8191))
    with raises_sqlstate("22023", "nested"):
        report(conn, row["id"], row["lease_token"], "[" * 65 + "1" + "]" * 65)
    report(conn, row["id"], row["lease_token"], "[" * 64 + "1" + "]" * 64)
    assert task(conn, row["id"])["progress_at"] is not None


def test_progress_array_form_stores_what_it_can(conn: Conn, worker_id: UUID) -> None:
    first, second = running(conn, worker_id), running(conn, worker_id)
    stored = conn.execute(
        "SELECT * FROM taskq.report_progress(%s::uuid[], %s::uuid[], %s::jsonb[])",
        (
            [first["id"], second["id"], MISSING],
            [first["lease_token"], MISSING, MISSING],
            [Jsonb({"a": 1}), Jsonb({"b": 2}), Jsonb(3)],
        ),
    ).fetchall()
    assert stored == [(first["id"],)]
    assert task(conn, first["id"])["progress"] == {"a": 1}
    assert task(conn, second["id"])["progress"] is None


@pytest.mark.parametrize(
    ("ids", "tokens", "values", "sqlstate", "match"),
    [
        (None, [], [], "22004", "task_ids must not be NULL"),
        ([], None, [], "22004", "lease_tokens must not be NULL"),
        ([MISSING], [MISSING], None, "22004", "progress must not be NULL"),
        ([MISSING], [MISSING, MISSING], ["1"], "22023", "lease_tokens has 2 elements"),
        ([MISSING], [MISSING], ['"' + "x" * 8191 + '"'], "22023", "progress[1] must be"),
    ],
)
def test_progress_array_form_bad_arguments(
    conn: Conn, ids: Any, tokens: Any, values: Any, sqlstate: str, match: str
) -> None:
    with raises_sqlstate(sqlstate, match):
        conn.execute(
            "SELECT * FROM taskq.report_progress(%s::uuid[], %s::uuid[], %s::jsonb[])",
            (ids, tokens, values),
        )
