"""Every allowed transition, and every refused one with its SQLSTATE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

MISSING = UUID("00000000-0000-7000-8000-000000000000")


def running(conn: Conn, worker_id: UUID, **kwargs: Any) -> dict[str, Any]:
    task_id = enqueue(conn, **kwargs)
    rows = claim(conn, worker_id)
    assert [r["id"] for r in rows] == [task_id]
    return rows[0]


def finished(conn: Conn, worker_id: UUID, status: str) -> UUID:
    """A task brought to the given status by the public functions."""
    task_id = enqueue(conn, max_attempts=1)
    if status == "QUEUED":
        return task_id
    if status == "PAUSED":
        conn.execute("SELECT taskq.pause(%s)", (task_id,))
        return task_id
    if status == "CANCELLED":
        conn.execute("SELECT taskq.cancel(%s)", (task_id,))
        return task_id
    [row] = claim(conn, worker_id)
    if status == "COMPLETED":
        conn.execute("SELECT taskq.complete(%s, %s)", (task_id, row["lease_token"]))
    elif status == "FAILED":
        conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (task_id, row["lease_token"]))
    assert task(conn, task_id)["status"] == status
    return task_id


# --- complete -------------------------------------------------------------------------


def test_complete_stores_the_result(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    done = conn.execute(
        "SELECT status, result, finished_at IS NOT NULL, lease_token"
        " FROM taskq.complete(%s, %s, %s)",
        (row["id"], row["lease_token"], Jsonb({"sent": 1})),
    ).fetchone()
    assert done == ("COMPLETED", {"sent": 1}, True, None)


def test_complete_with_a_wrong_token_is_refused(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    with raises_sqlstate(
        "55000", f"task {row['id']} is RUNNING; only a RUNNING task can be completed"
    ):
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], MISSING))
    assert task(conn, row["id"])["status"] == "RUNNING"


@pytest.mark.parametrize("status", ["QUEUED", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"])
def test_complete_refused_unless_running(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = finished(conn, worker_id, status)
    with raises_sqlstate("55000", f"is {status}"):
        conn.execute("SELECT taskq.complete(%s, %s)", (task_id, MISSING))
    assert task(conn, task_id)["status"] == status


# --- fail -------------------------------------------------------------------------------


def test_fail_retries_with_backoff_then_fails(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id, max_attempts=2)
    # failed as of a minute ago, so that the retry is due now
    at = datetime.now(UTC) - timedelta(minutes=1)
    failed = task_after(
        conn,
        "SELECT * FROM taskq.fail(%s, %s, 'first', now => %s)",
        (row["id"], row["lease_token"], at),
    )
    assert failed["status"] == "QUEUED"
    assert failed["attempts"] == 1
    assert failed["last_error"] == "first"
    assert datetime.fromisoformat(failed["errors"][-1]["at"]) == at
    # backoff(1) = 2 s with +/- 25% jitter
    delay = (failed["scheduled_at"] - at).total_seconds()
    assert 1.5 <= delay < 2.5, delay
    [again] = claim(conn, worker_id)
    assert again["attempts"] == 2
    assert again["lease_token"] != row["lease_token"]
    final = task_after(
        conn, "SELECT * FROM taskq.fail(%s, %s, 'second')", (row["id"], again["lease_token"])
    )
    assert final["status"] == "FAILED"
    assert final["finished_at"] is not None
    assert final["last_error"] == "second"
    assert [e["error"] for e in final["errors"]] == ["first", "second"]
    assert [e["attempt"] for e in final["errors"]] == [1, 2]


def task_after(conn: Conn, sql: str, params: Any) -> dict[str, Any]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(sql, params).fetchone()
    assert row is not None
    return row


def test_fail_with_explicit_retry_delay(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    failed = task_after(
        conn, "SELECT * FROM taskq.fail(%s, %s, 'x', interval '0')", (row["id"], row["lease_token"])
    )
    assert failed["status"] == "QUEUED"
    assert [r["id"] for r in claim(conn, worker_id)] == [row["id"]]
    with raises_sqlstate("22023", "retry_delay"):
        conn.execute("SELECT taskq.fail(%s, %s, 'x', interval '-1 second')", (row["id"], MISSING))


def test_backoff_grows_and_is_capped(conn: Conn) -> None:
    for attempt, base in [(1, 2), (3, 8), (6, 64)]:
        seconds = one(conn, "SELECT extract(epoch FROM taskq.backoff(%s))", (attempt,))
        assert base * 0.75 <= float(seconds) <= base * 1.25
    assert float(one(conn, "SELECT extract(epoch FROM taskq.backoff(50))")) <= 3600 * 1.25


@pytest.mark.parametrize("status", ["QUEUED", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"])
def test_fail_refused_unless_running(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = finished(conn, worker_id, status)
    with raises_sqlstate("55000", "only a RUNNING task can be failed"):
        conn.execute("SELECT taskq.fail(%s, %s, 'x')", (task_id, MISSING))


# --- pause / resume -------------------------------------------------------------------------


def test_pause_and_resume_keep_the_place(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    first = enqueue(conn, "first")
    second = enqueue(conn, "second")
    before = task(conn, first)
    assert one(conn, "SELECT status FROM taskq.pause(%s)", (first,)) == "PAUSED"
    assert one(conn, "SELECT status FROM taskq.pause(%s)", (first,)) == "PAUSED"
    assert one(conn, "SELECT status FROM taskq.resume(%s)", (first,)) == "QUEUED"
    assert one(conn, "SELECT status FROM taskq.resume(%s)", (first,)) == "QUEUED"
    after = task(conn, first)
    assert (after["priority"], after["scheduled_at"]) == (
        before["priority"],
        before["scheduled_at"],
    )
    assert [r["id"] for r in claim(conn, worker_id, batch_size=2)] == [first, second]


@pytest.mark.parametrize("status", ["RUNNING", "COMPLETED", "FAILED", "CANCELLED"])
def test_pause_refused(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = (
        running(conn, worker_id)["id"] if status == "RUNNING" else finished(conn, worker_id, status)
    )
    with raises_sqlstate("55000", f"is {status}; only QUEUED or PAUSED tasks can be paused"):
        conn.execute("SELECT taskq.pause(%s)", (task_id,))


@pytest.mark.parametrize("status", ["RUNNING", "COMPLETED", "FAILED", "CANCELLED"])
def test_resume_refused(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = (
        running(conn, worker_id)["id"] if status == "RUNNING" else finished(conn, worker_id, status)
    )
    with raises_sqlstate("55000", f"is {status}; only PAUSED or QUEUED tasks can be resumed"):
        conn.execute("SELECT taskq.resume(%s)", (task_id,))


# --- cancel -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["QUEUED", "PAUSED", "CANCELLED"])
def test_cancel_waiting_tasks(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = finished(conn, worker_id, status)
    row = task_after(conn, "SELECT * FROM taskq.cancel(%s)", (task_id,))
    assert row["status"] == "CANCELLED"
    assert row["finished_at"] is not None
    assert claim(conn, worker_id) == []


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED"])
def test_cancel_refused_when_finished(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = finished(conn, worker_id, status)
    with raises_sqlstate(
        "55000", f"is {status}; only QUEUED, PAUSED or RUNNING tasks can be cancelled"
    ):
        conn.execute("SELECT taskq.cancel(%s)", (task_id,))


def test_cancel_running_is_seen_by_heartbeat_and_fail_ends_it(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    assert conn.execute("SELECT * FROM taskq.heartbeat(%s)", (worker_id,)).fetchall() == []
    asked = task_after(conn, "SELECT * FROM taskq.cancel(%s)", (row["id"],))
    assert (asked["status"], asked["cancel_requested"]) == ("RUNNING", True)
    ids = [r[0] for r in conn.execute("SELECT * FROM taskq.heartbeat(%s)", (worker_id,))]
    assert ids == [row["id"]]
    ended = task_after(
        conn, "SELECT * FROM taskq.fail(%s, %s, 'cancelled')", (row["id"], row["lease_token"])
    )
    assert ended["status"] == "CANCELLED"
    assert ended["finished_at"] is not None
    assert claim(conn, worker_id) == []


def test_cancel_running_notifies_its_worker(conn: Conn, worker_id: UUID, database_url: str) -> None:
    row = running(conn, worker_id)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN taskq_cancel")
        conn.execute("SELECT taskq.cancel(%s)", (row["id"],))
        notes = list(listener.notifies(timeout=2, stop_after=1))
    assert [n.payload for n in notes] == [str(worker_id)]


def test_complete_that_wins_the_race_ends_completed(conn: Conn, worker_id: UUID) -> None:
    row = running(conn, worker_id)
    conn.execute("SELECT taskq.cancel(%s)", (row["id"],))
    done = task_after(conn, "SELECT * FROM taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
    assert done["status"] == "COMPLETED"


# --- retry --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_retry(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = finished(conn, worker_id, status)
    row = task_after(conn, "SELECT * FROM taskq.retry(%s)", (task_id,))
    assert (row["status"], row["attempts"], row["finished_at"]) == ("QUEUED", 0, None)
    assert row["scheduled_at"] <= datetime.now(UTC) + timedelta(seconds=1)
    assert [r["id"] for r in claim(conn, worker_id)] == [task_id]


@pytest.mark.parametrize("status", ["QUEUED", "PAUSED", "RUNNING", "COMPLETED"])
def test_retry_refused(conn: Conn, worker_id: UUID, status: str) -> None:
    task_id = (
        running(conn, worker_id)["id"] if status == "RUNNING" else finished(conn, worker_id, status)
    )
    with raises_sqlstate("55000", f"is {status}; only FAILED or CANCELLED tasks can be retried"):
        conn.execute("SELECT taskq.retry(%s)", (task_id,))


# --- unknown tasks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "SELECT taskq.get_task(%(id)s)",
        "SELECT taskq.pause(%(id)s)",
        "SELECT taskq.resume(%(id)s)",
        "SELECT taskq.cancel(%(id)s)",
        "SELECT taskq.retry(%(id)s)",
        "SELECT taskq.complete(%(id)s, %(id)s)",
        "SELECT taskq.fail(%(id)s, %(id)s, 'x')",
    ],
)
def test_unknown_task_is_p0002(conn: Conn, call: str) -> None:
    with raises_sqlstate("P0002", f"task {MISSING} does not exist"):
        conn.execute(call, {"id": MISSING})
