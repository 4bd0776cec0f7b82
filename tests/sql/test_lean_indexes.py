"""taskq:lean_indexes: what a claim and an outcome write, and what reads the indexes that went.

A claim writes two index entries a task and a completion two; a listing of a rare status reads
tasks_rare_status; a worker's RUNNING tasks are found through tasks_leases, beside many others'."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from taskq import migrate
from tests.sql.conftest import Conn, claim, enqueue, one

# every index of taskq.tasks and the rows it holds: what a task's life writes
INDEXES = {
    "tasks_pkey": "every row",
    "tasks_claimable": "QUEUED",
    "tasks_claimable_by_name": "QUEUED",
    "tasks_scheduled": "QUEUED",
    "tasks_keyed_claimable": "QUEUED with a concurrency key",
    "tasks_leases": "RUNNING",
    "tasks_running_keyed": "RUNNING with a concurrency key",
    "tasks_finished": "COMPLETED, FAILED, CANCELLED",
    "tasks_rare_status": "PAUSED, FAILED, CANCELLED",
    "tasks_unique_key": "with a unique key",
}


def entries(conn: Conn, index: str) -> int:
    """How many entries the index holds (its rows, read from the index alone)."""
    conn.execute("SET enable_seqscan = off")
    conn.execute("SET enable_bitmapscan = off")
    try:
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM taskq.tasks t {WHERE[index]}")
        assert index in str(plan.fetchone()), f"the count did not read {index}"
        return int(one(conn, f"SELECT count(*) FROM taskq.tasks t {WHERE[index]}"))
    finally:
        conn.execute("RESET enable_seqscan")
        conn.execute("RESET enable_bitmapscan")


WHERE = {
    "tasks_leases": "WHERE t.status = 'RUNNING' AND t.lease_expires_at > '-infinity'",
    "tasks_finished": "WHERE t.status >= 'COMPLETED' AND t.queue > ''",
    "tasks_rare_status": "WHERE t.status IN ('PAUSED', 'FAILED', 'CANCELLED')"
    " AND t.id > '00000000-0000-0000-0000-000000000000'",
}


def test_the_indexes_of_tasks(conn: Conn) -> None:
    names = {
        row[0]
        for row in conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index"
            " WHERE indrelid = 'taskq.tasks'::regclass"
        ).fetchall()
    }
    assert names == {f"taskq.{name}" for name in INDEXES}


def test_a_claim_and_a_completion_write_only_their_indexes(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('lean', NULL)")
    for n in range(3):
        enqueue(conn, queue="lean", payload=Jsonb({"n": n}))
    rows = claim(conn, worker_id, queues=["lean"], batch_size=3)
    assert entries(conn, "tasks_leases") == 3
    assert entries(conn, "tasks_rare_status") == 0
    for row in rows:
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
    assert entries(conn, "tasks_leases") == 0
    assert entries(conn, "tasks_finished") == 3
    assert entries(conn, "tasks_rare_status") == 0
    # a failure for good, a cancellation and a pause are what tasks_rare_status holds
    enqueue(conn, queue="lean", max_attempts=1)
    [last] = claim(conn, worker_id, queues=["lean"])
    conn.execute("SELECT taskq.fail(%s, %s, 'no')", (last["id"], last["lease_token"]))
    conn.execute("SELECT taskq.cancel(%s)", (enqueue(conn, queue="lean"),))
    conn.execute("SELECT taskq.pause(%s)", (enqueue(conn, queue="lean"),))
    assert entries(conn, "tasks_rare_status") == 3


def test_a_rare_status_is_listed_through_its_index(conn: Conn) -> None:
    conn.execute(
        "SELECT taskq.enqueue_many(%s)",
        (Jsonb([{"name": "many", "queue": "rare"}] * 2000),),
    )
    cancelled = [enqueue(conn, queue="rare") for _ in range(3)]
    for task_id in cancelled:
        conn.execute("SELECT taskq.cancel(%s)", (task_id,))
    conn.execute("ANALYZE taskq.tasks")
    plan = conn.execute(
        "EXPLAIN (FORMAT JSON) SELECT * FROM taskq.tasks t WHERE t.status = 'CANCELLED'"
        " ORDER BY t.id DESC LIMIT 50"
    ).fetchone()
    assert "tasks_rare_status" in str(plan)
    listed = conn.execute("SELECT id FROM taskq.list_tasks('CANCELLED')").fetchall()
    assert [row[0] for row in listed] == sorted(cancelled, reverse=True)


def test_a_workers_running_tasks_among_others(conn: Conn) -> None:
    conn.execute("SELECT taskq.set_concurrency('mine', NULL)")
    workers = [
        one(conn, "SELECT taskq.register_worker(%s, ARRAY['mine'])", (f"w{i}",)) for i in range(5)
    ]
    held: dict[UUID, set[UUID]] = {}
    for worker in workers:
        for _ in range(4):
            enqueue(conn, queue="mine")
        held[worker] = {r["id"] for r in claim(conn, worker, queues=["mine"], batch_size=4)}
    for worker in workers:
        found = conn.execute("SELECT id FROM taskq.held_tasks(%s)", (worker,)).fetchall()
        assert {row[0] for row in found} == held[worker]
        beat = conn.execute("SELECT * FROM taskq.heartbeat(%s, '1 minute')", (worker,)).fetchall()
        assert beat == []
    info: dict[Any, Any] = dict(
        conn.execute("SELECT id, running FROM taskq.worker_info").fetchall()
    )
    assert info == {worker: 4 for worker in workers}
    assert one(conn, "SELECT taskq.unregister_worker(%s)", (workers[0],)) == 4
    assert (
        one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'RUNNING' AND queue = 'mine'")
        == 16
    )


def test_revert_gives_back_the_two_indexes(empty_database_url: str) -> None:
    migrate.deploy(empty_database_url)
    migrate.sqitch("revert", empty_database_url, "-y", "--to", "@v0.6.0")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        for name in ("tasks_status_id", "tasks_running_by_worker"):
            assert one(
                conn,
                "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
                (f"taskq.{name}",),
            )
        assert one(conn, "SELECT to_regclass('taskq.tasks_rare_status')") is None
    migrate.sqitch("deploy", empty_database_url, "--verify")
