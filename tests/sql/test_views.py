from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.sql.conftest import Conn, claim, enqueue, one


def stats(conn: Conn) -> dict[str, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return {row["queue"]: row for row in cur.execute("SELECT * FROM taskq.queue_stats")}


def test_queue_stats(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    enqueue(conn, scheduled_at=datetime.now(UTC) - timedelta(minutes=10))
    enqueue(conn, scheduled_at=datetime.now(UTC) + timedelta(hours=1))
    paused = enqueue(conn)
    conn.execute("SELECT taskq.pause(%s)", (paused,))
    for outcome in ("complete", "fail", "cancel"):
        task_id = enqueue(conn, "x", max_attempts=1, priority="HIGH")
        [row] = claim(conn, worker_id)
        assert row["id"] == task_id
        if outcome == "complete":
            conn.execute("SELECT taskq.complete(%s, %s)", (task_id, row["lease_token"]))
        elif outcome == "fail":
            conn.execute("SELECT taskq.fail(%s, %s, 'x')", (task_id, row["lease_token"]))
        else:
            conn.execute("SELECT taskq.cancel(%s)", (task_id,))
            conn.execute("SELECT taskq.fail(%s, %s, 'x')", (task_id, row["lease_token"]))
    enqueue(conn, priority="HIGH")
    claim(conn, worker_id)
    conn.execute("SELECT taskq.pause_queue('idle')")
    got = stats(conn)
    default = got["default"]
    counts = {
        k: default[k]
        for k in (
            "queued",
            "scheduled",
            "running",
            "paused_tasks",
            "completed",
            "failed",
            "cancelled",
        )
    }
    assert counts == {
        "queued": 1,
        "scheduled": 1,
        "running": 1,
        "paused_tasks": 1,
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
    }
    assert timedelta(minutes=9) < default["oldest_wait"] < timedelta(minutes=11)
    assert default["concurrency"] is None
    assert got["idle"]["paused"] is True
    assert got["idle"]["oldest_wait"] is None


def test_task_info_time_to_execute(conn: Conn, worker_id: UUID) -> None:
    waiting = enqueue(conn)
    done = enqueue(conn, priority="HIGH")
    [row] = claim(conn, worker_id)
    conn.execute("SELECT taskq.complete(%s, %s)", (done, row["lease_token"]))
    sql = "SELECT time_to_execute FROM taskq.task_info WHERE id = %s"
    assert one(conn, sql, (waiting,)) is None
    took = one(conn, "SELECT finished_at - started_at FROM taskq.get_task(%s)", (done,))
    assert one(conn, sql, (done,)) == took.total_seconds()


def test_time_to_execute_counts_a_running_task_until_now(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn)
    [row] = claim(conn, worker_id)
    sql = "SELECT taskq.time_to_execute(t, now => t.started_at + %s) FROM taskq.get_task(%s) t"
    assert one(conn, sql, (timedelta(seconds=3), row["id"])) == 3.0
    # without now, until the transaction's now(): the claim came before this statement
    assert one(conn, "SELECT taskq.time_to_execute(t) FROM taskq.get_task(%s) t", (row["id"],)) > 0


def page(conn: Conn, **kwargs: Any) -> tuple[list[UUID], set[UUID | None]]:
    """The ids of a taskq.list_tasks_page page, and the next_cursor its rows carry."""
    names = ", ".join(f"{key} => %({key})s" for key in kwargs)
    rows = conn.execute(
        f"SELECT (p.task).id, p.next_cursor FROM taskq.list_tasks_page({names}) p", kwargs
    ).fetchall()
    return [task_id for task_id, _ in rows], {cursor for _, cursor in rows}


def test_list_tasks_page_says_whether_a_page_follows(conn: Conn) -> None:
    ids = [enqueue(conn, "a" if i % 2 else "b", queue="q") for i in range(6)][::-1]
    assert page(conn, page_size=4) == (ids[:4], {ids[3]})
    # a page that ends exactly at the last task is followed by none
    assert page(conn, after=ids[3], page_size=2) == (ids[4:], {None})
    assert page(conn, after=ids[3], page_size=3) == (ids[4:], {None})
    assert page(conn, page_size=6) == (ids, {None})
    assert page(conn, after=ids[-1]) == ([], set())
    # the filters decide what follows: the oldest task is a 'b', so no 'a' follows the last 'a'
    a = [i for n, i in enumerate(ids) if n % 2 == 0]
    assert page(conn, name="a", page_size=2) == (a[:2], {a[1]})
    assert page(conn, name="a", after=a[0], page_size=2) == (a[1:], {None})


def test_get_queue_stats_is_the_queues_row_or_p0002(conn: Conn) -> None:
    enqueue(conn, queue="mail")
    assert one(conn, "SELECT queued FROM taskq.get_queue_stats('mail')") == 1
    equal = "SELECT s IS NOT DISTINCT FROM taskq.get_queue_stats(s.queue) FROM taskq.queue_stats s"
    assert [same for (same,) in conn.execute(equal)] == [True]
    with pytest.raises(psycopg.errors.NoDataFound) as info:
        conn.execute("SELECT taskq.get_queue_stats('nowhere')")
    assert info.value.diag.table_name == "queues"
    assert json.loads(info.value.diag.message_detail or "") == {"queue": "nowhere"}


def test_list_tasks_keyset_pages(conn: Conn) -> None:
    ids = [enqueue(conn, "a" if i % 2 else "b", queue="q") for i in range(7)]
    first = [r[0] for r in conn.execute("SELECT id FROM taskq.list_tasks(page_size => 3)")]
    assert first == ids[::-1][:3]
    second = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM taskq.list_tasks(after => %s, page_size => 3)", (first[-1],)
        )
    ]
    assert second == ids[::-1][3:6]
    only_a = [
        r[0]
        for r in conn.execute("SELECT id FROM taskq.list_tasks(name => 'a', status => 'QUEUED')")
    ]
    assert only_a == [i for i in ids[::-1] if ids.index(i) % 2]
    assert conn.execute("SELECT id FROM taskq.list_tasks(queue => 'other')").fetchall() == []
