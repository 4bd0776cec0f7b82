"""Rows stored before taskq refused times outside years 1..9999 UTC (infinity, -infinity, a BC
date) must not break the views: a wait or a duration counted from such a time is NULL, the other
columns are as usual, and nothing raises (PostgreSQL 15 raised 22008, "cannot subtract infinite
timestamps"; 16 and later gave an infinite interval that Python cannot hold).

The rows are written with UPDATE on the private table, as an older version could have stored
them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg.rows import dict_row

from tests.sql.conftest import Conn, claim, enqueue, one

OUT_OF_RANGE = ["-infinity", "infinity", "0044-03-15 12:00:00+00 BC", "12000-01-01 00:00:00+00"]
# the ones that are due (scheduled before now), so that they count in oldest_wait
OVERDUE = ["-infinity", "0044-03-15 12:00:00+00 BC"]


def spoil(conn: Conn, task_id: UUID, column: str, value: str) -> None:
    conn.execute(
        f"UPDATE taskq.tasks SET {column} = %s::timestamptz WHERE id = %s", (value, task_id)
    )


def rows(conn: Conn, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


@pytest.mark.parametrize("value", OVERDUE)
def test_queue_stats_and_unhandled_tasks_count_a_task_due_since_an_unrepresentable_time(
    conn: Conn, value: str
) -> None:
    enqueue(conn, "normal", scheduled_at=datetime.now(UTC) - timedelta(minutes=10))
    spoiled = enqueue(conn, "old")
    spoil(conn, spoiled, "scheduled_at", value)
    [stats] = rows(conn, "SELECT * FROM taskq.queue_stats")  # every column decodes
    assert stats["queued"] == 2
    assert stats["oldest_wait"] is None  # the longest-due task's wait cannot be told
    assert stats["unhandled"] == 2  # no worker runs
    unhandled = {row["name"]: row for row in rows(conn, "SELECT * FROM taskq.unhandled_tasks")}
    assert unhandled["old"]["queued"] == 1
    assert unhandled["old"]["oldest_wait"] is None
    assert timedelta(minutes=9) < unhandled["normal"]["oldest_wait"] < timedelta(minutes=11)


def test_queue_stats_of_a_queue_without_unrepresentable_times_is_unchanged(conn: Conn) -> None:
    enqueue(conn, scheduled_at=datetime.now(UTC) - timedelta(minutes=10), queue="clean")
    spoil(conn, enqueue(conn, queue="other"), "scheduled_at", "-infinity")
    stats = {row["queue"]: row for row in rows(conn, "SELECT * FROM taskq.queue_stats")}
    assert timedelta(minutes=9) < stats["clean"]["oldest_wait"] < timedelta(minutes=11)
    assert stats["other"]["oldest_wait"] is None


@pytest.mark.parametrize("value", ["infinity", "12000-01-01 00:00:00+00"])
def test_a_task_scheduled_after_9999_is_scheduled_not_due(conn: Conn, value: str) -> None:
    spoil(conn, enqueue(conn), "scheduled_at", value)
    [stats] = rows(conn, "SELECT * FROM taskq.queue_stats")
    assert (stats["queued"], stats["scheduled"], stats["oldest_wait"]) == (0, 1, None)


@pytest.mark.parametrize("column", ["started_at", "finished_at"])
@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_time_to_execute_from_an_unrepresentable_time_is_null(
    conn: Conn, worker_id: UUID, column: str, value: str
) -> None:
    running = enqueue(conn, queue="a")
    done = enqueue(conn, queue="b")
    claimed = {row["id"]: row for row in claim(conn, worker_id, batch_size=2)}
    conn.execute("SELECT taskq.complete(%s, %s)", (done, claimed[done]["lease_token"]))
    spoil(conn, done, column, value)
    if column == "started_at":
        spoil(conn, running, column, value)
    times = dict(
        conn.execute(
            "SELECT id, time_to_execute FROM taskq.task_info WHERE id = ANY (%s)",
            ([running, done],),
        ).fetchall()
    )
    assert times[done] is None
    if column == "started_at":
        assert times[running] is None
    else:  # untouched: the elapsed time of a running task
        assert 0 <= times[running] < 60


def test_time_to_execute_of_times_in_range_is_as_before(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    [row] = claim(conn, worker_id)
    conn.execute("SELECT taskq.complete(%s, %s)", (task_id, row["lease_token"]))
    conn.execute(
        "UPDATE taskq.tasks SET started_at = '0001-01-01 00:00:00+00',"
        " finished_at = '9999-12-31 23:59:59+00' WHERE id = %s",
        (task_id,),
    )
    seconds = one(conn, "SELECT time_to_execute FROM taskq.task_info WHERE id = %s", (task_id,))
    assert seconds == pytest.approx(9999 * 365.2425 * 86400, rel=1e-3)
