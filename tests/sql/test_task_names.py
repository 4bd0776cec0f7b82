"""Workers say which task names they handle; tasks no live worker handles are visible, and a
claim of some names never reads the tasks of other names ahead of them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate

AHEAD = 5_000


def unhandled(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT queue, name, queued FROM taskq.unhandled_tasks ORDER BY queue, name"
    ).fetchall()


def test_register_worker_keeps_the_task_names(conn: Conn) -> None:
    named = one(
        conn,
        "SELECT taskq.register_worker('w1', task_names => ARRAY['send_email', 'resize'])",
    )
    positional = one(conn, "SELECT taskq.register_worker('w2', ARRAY['a'], 'host', 7)")
    rows = dict(conn.execute("SELECT id, task_names FROM taskq.workers").fetchall())
    assert rows == {named: ["send_email", "resize"], positional: None}
    # one register_worker: the 4-argument form is replaced, not overloaded
    assert one(conn, "SELECT count(*) FROM pg_proc WHERE proname = 'register_worker'") == 1


def test_register_worker_refuses_empty_task_names(conn: Conn) -> None:
    for names in (["a", None], ["a", " "], [""]):
        with raises_sqlstate("22023", "task_names"):
            conn.execute("SELECT taskq.register_worker('w', task_names => %s)", (names,))


def test_unhandled_tasks_are_the_due_ones_no_live_worker_handles(conn: Conn) -> None:
    enqueue(conn, "a", queue="q")
    enqueue(conn, "b", queue="q")
    enqueue(conn, "b", queue="q")
    enqueue(conn, "a", queue="other")
    enqueue(conn, "later", queue="q", scheduled_at="2999-01-01T00:00:00Z")
    # no worker at all: every due task waits for one
    assert unhandled(conn) == [("other", "a", 1), ("q", "a", 1), ("q", "b", 2)]

    conn.execute("SELECT taskq.register_worker('w', ARRAY['q'], task_names => ARRAY['a'])")
    assert unhandled(conn) == [("other", "a", 1), ("q", "b", 2)]
    with conn.cursor(row_factory=dict_row) as cur:
        stats = {
            r["queue"]: r["unhandled"]
            for r in cur.execute("SELECT * FROM taskq.queue_stats").fetchall()
        }
    assert stats == {"q": 2, "other": 1}

    # a worker of every queue and any name handles everything ...
    anyone = one(conn, "SELECT taskq.register_worker('any')")
    assert unhandled(conn) == []
    # ... while it heartbeats; one silent for 5 minutes is gone
    conn.execute(
        "UPDATE taskq.workers SET heartbeat_at = now() - interval '6 minutes' WHERE id = %s",
        (anyone,),
    )
    assert unhandled(conn) == [("other", "a", 1), ("q", "b", 2)]


def test_a_claim_of_some_names_does_not_read_the_others_ahead(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('q', NULL)")
    # Tasks of another name, all due earlier and of higher priority than the handled ones.
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name, priority, scheduled_at)"
        " SELECT 'q', 'other', 'HIGH', now() - interval '1 hour' + n * interval '1 ms'"
        " FROM generate_series(1, %s) n",
        (AHEAD,),
    )
    mine = [enqueue(conn, "mine", queue="q", priority="LOW") for _ in range(3)]
    theirs = enqueue(conn, "theirs", queue="q", priority="LOW")
    conn.execute("VACUUM ANALYZE taskq.tasks")

    def tuples_read() -> int:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # the flush happens when this session goes idle
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            one(
                conn,
                "SELECT sum(idx_tup_read) FROM pg_stat_user_indexes"
                " WHERE relname = 'tasks' AND indexrelname LIKE 'tasks_claimable%'",
            )
        )

    before = tuples_read()
    first = claim(conn, worker_id, names=["mine", "theirs"], batch_size=2)
    after = tuples_read()
    # the oldest of the names asked for, in claim order, and fewer index entries read than
    # there are tasks of the other name ahead of them
    assert [r["id"] for r in first] == [mine[0], mine[1]]
    assert after - before < 100, after - before
    rest = claim(conn, worker_id, names=["theirs", "mine", "mine"], batch_size=5)
    assert [r["id"] for r in rest] == [mine[2], theirs]
    assert claim(conn, worker_id, names=["mine"]) == []
