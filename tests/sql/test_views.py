from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

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
    conn.execute(
        "UPDATE taskq.tasks SET started_at = now() - interval '3 seconds' WHERE id = %s", (done,)
    )
    conn.execute("SELECT taskq.complete(%s, %s)", (done, row["lease_token"]))
    assert (
        one(conn, "SELECT time_to_execute FROM taskq.task_info WHERE id = %s", (waiting,)) is None
    )
    assert 2.9 < one(conn, "SELECT time_to_execute FROM taskq.task_info WHERE id = %s", (done,)) < 4


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
