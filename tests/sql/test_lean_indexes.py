"""taskq:lean_indexes: the indexes of taskq.tasks, and what reads the one that went.

tasks_status_id (status, id) gave way to tasks_rare_status, which holds only PAUSED, FAILED and
CANCELLED tasks: no enqueue, claim or completion writes it."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from taskq import migrate
from tests.sql.conftest import Conn, enqueue, one

# every index of taskq.tasks: the rows each holds decide what an enqueue (QUEUED), a claim
# (RUNNING) and a completion (COMPLETED) write
INDEXES = {
    "tasks_pkey": "(id)",
    "tasks_claimable": "(queue, priority DESC, scheduled_at, id) WHERE (status = 'QUEUED'",
    "tasks_claimable_by_name": "(queue, name, priority DESC, scheduled_at, id)"
    " WHERE (status <= 'QUEUED'",
    "tasks_scheduled_later": "(scheduled_at)"
    " WHERE ((status = 'QUEUED'::taskq.status) AND (scheduled_at > created_at))",
    "tasks_keyed_claimable": "(queue, priority DESC, scheduled_at, id)"
    " WHERE ((status = 'QUEUED'::taskq.status) AND (concurrency_key IS NOT NULL))",
    "tasks_leases": "(lease_expires_at) WHERE (status = 'RUNNING'",
    "tasks_running_by_worker": "(worker_id) WHERE (status = 'RUNNING'",
    "tasks_running_keyed": "(queue, concurrency_key)"
    " WHERE ((status = 'RUNNING'::taskq.status) AND (concurrency_key IS NOT NULL))",
    "tasks_finished": "(queue, status, finished_at) WHERE (status >= 'COMPLETED'",
    "tasks_rare_status": "(status, id) WHERE (status = ANY (ARRAY['PAUSED'::taskq.status,"
    " 'FAILED'::taskq.status, 'CANCELLED'::taskq.status]))",
    "tasks_unique_key": "(unique_key) WHERE (unique_key IS NOT NULL)",
}


def test_the_indexes_of_tasks(conn: Conn) -> None:
    found = dict(
        conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'taskq.tasks'::regclass AND i.indisvalid"
        ).fetchall()
    )
    assert found.keys() == INDEXES.keys()
    for name, definition in INDEXES.items():
        assert definition in found[name], (name, found[name])


def test_a_rare_status_is_listed_through_its_index(conn: Conn) -> None:
    # the cancelled tasks are old: every later task stands before them, newest first
    cancelled = [enqueue(conn, queue="rare") for _ in range(3)]
    for task_id in cancelled:
        conn.execute("SELECT taskq.cancel(%s)", (task_id,))
    conn.execute(
        "SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "many", "queue": "rare"}] * 3000),)
    )
    conn.execute("ANALYZE taskq.tasks")
    plan = conn.execute(
        "EXPLAIN (FORMAT JSON) SELECT * FROM taskq.tasks t WHERE t.status = 'CANCELLED'"
        " ORDER BY t.id DESC LIMIT 50"
    ).fetchone()
    assert "tasks_rare_status" in str(plan)
    for _ in range(7):  # past the calls a session plans for their arguments
        listed = conn.execute("SELECT id FROM taskq.list_tasks('CANCELLED')").fetchall()
        assert [row[0] for row in listed] == sorted(cancelled, reverse=True)
    queued = conn.execute("SELECT id FROM taskq.list_tasks('QUEUED', page_size => 5)").fetchall()
    newest = conn.execute(
        "SELECT id FROM taskq.tasks WHERE status = 'QUEUED' ORDER BY id DESC LIMIT 5"
    ).fetchall()
    assert queued == newest


def test_revert_builds_tasks_status_id_again(empty_database_url: str) -> None:
    migrate.deploy(empty_database_url)
    migrate.sqitch("revert", empty_database_url, "-y", "--to", "@v0.6.0")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert one(
            conn,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'taskq.tasks_status_id'::regclass",
        )
        assert one(conn, "SELECT to_regclass('taskq.tasks_rare_status')") is None
    migrate.sqitch("deploy", empty_database_url, "--verify")
