"""The audit trail: one row per admin act, in the act's transaction, with who, what and why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from taskq import migrate
from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

MISSING = UUID("00000000-0000-7000-8000-000000000000")


def audit(conn: Conn) -> list[dict[str, Any]]:
    """Every row of taskq.audit, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM taskq.audit ORDER BY id").fetchall()


def changes(conn: Conn) -> list[tuple[Any, ...]]:
    """(action, task_id, queue, before, after, actor, reason) of each row, oldest first."""
    return [
        (r["action"], r["task_id"], r["queue"], r["before"], r["after"], r["actor"], r["reason"])
        for r in audit(conn)
    ]


def test_every_task_act_writes_one_row_with_its_values(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn, queue="mail")
    conn.execute("SELECT taskq.pause(%s, reason => 'hold on')", (task_id,))
    conn.execute("SELECT taskq.pause(%s)", (task_id,))  # idempotent, recorded too
    conn.execute("SELECT taskq.resume(%s, reason => 'go')", (task_id,))
    conn.execute("SELECT taskq.cancel(%s, reason => 'duplicate')", (task_id,))
    conn.execute("SELECT taskq.retry(task_id => %s, reason => 'not a duplicate')", (task_id,))
    assert changes(conn) == [
        ("pause", task_id, "mail", {"status": "QUEUED"}, {"status": "PAUSED"}, None, "hold on"),
        ("pause", task_id, "mail", {"status": "PAUSED"}, {"status": "PAUSED"}, None, None),
        ("resume", task_id, "mail", {"status": "PAUSED"}, {"status": "QUEUED"}, None, "go"),
        (
            "cancel",
            task_id,
            "mail",
            {"status": "QUEUED", "cancel_requested": False},
            {"status": "CANCELLED", "cancel_requested": False},
            None,
            "duplicate",
        ),
        (
            "retry",
            task_id,
            "mail",
            {"status": "CANCELLED", "attempts": 0},
            {"status": "QUEUED", "attempts": 0},
            None,
            "not a duplicate",
        ),
    ]
    login = one(conn, "SELECT session_user::text")
    rows = audit(conn)
    assert {r["db_user"] for r in rows} == {login}
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)


def test_cancel_of_a_running_task_and_retry_of_a_failed_one(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn, max_attempts=1)
    [row] = claim(conn, worker_id)
    conn.execute("SELECT taskq.cancel(%s)", (task_id,))
    assert task(conn, task_id)["status"] == "RUNNING"
    conn.execute("SELECT taskq.fail(%s, %s, 'stopped')", (task_id, row["lease_token"]))
    other = enqueue(conn, max_attempts=1)
    [row] = claim(conn, worker_id)
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (other, row["lease_token"]))
    conn.execute("SELECT taskq.retry(%s)", (other,))
    assert [(c[0], c[1], c[3], c[4]) for c in changes(conn)] == [
        (
            "cancel",
            task_id,
            {"status": "RUNNING", "cancel_requested": False},
            {"status": "RUNNING", "cancel_requested": True},
        ),
        ("retry", other, {"status": "FAILED", "attempts": 1}, {"status": "QUEUED", "attempts": 0}),
    ]


def test_every_queue_act_writes_one_row_with_its_values(conn: Conn) -> None:
    conn.execute("SELECT taskq.set_concurrency('images', 5, reason => 'more room')")
    conn.execute("SELECT taskq.set_concurrency('images', NULL)")
    conn.execute("SELECT taskq.set_concurrency(queue => 'images', concurrency => 1)")
    conn.execute("SELECT taskq.pause_queue('images', reason => 'deploy')")
    conn.execute("SELECT taskq.pause_queue('images')")
    conn.execute("SELECT taskq.resume_queue('images', 'deployed')")
    assert changes(conn) == [
        (
            "set_concurrency",
            None,
            "images",
            {"concurrency": 2},
            {"concurrency": 5},
            None,
            "more room",
        ),
        ("set_concurrency", None, "images", {"concurrency": 5}, {"concurrency": None}, None, None),
        ("set_concurrency", None, "images", {"concurrency": None}, {"concurrency": 1}, None, None),
        ("pause_queue", None, "images", {"paused": False}, {"paused": True}, None, "deploy"),
        ("pause_queue", None, "images", {"paused": True}, {"paused": True}, None, None),
        ("resume_queue", None, "images", {"paused": True}, {"paused": False}, None, "deployed"),
    ]


def test_the_old_call_forms_still_work(conn: Conn) -> None:
    task_id = enqueue(conn)
    assert one(conn, "SELECT status FROM taskq.pause(%s)", (task_id,)) == "PAUSED"
    assert one(conn, "SELECT status FROM taskq.resume(task_id => %s)", (task_id,)) == "QUEUED"
    assert one(conn, "SELECT (taskq.cancel(%s)).status", (task_id,)) == "CANCELLED"
    assert one(conn, "SELECT status FROM taskq.retry(task_id => %s)", (task_id,)) == "QUEUED"
    assert one(conn, "SELECT concurrency FROM taskq.set_concurrency('q', 3)") == 3
    assert one(conn, "SELECT paused FROM taskq.pause_queue('q')") is True
    assert one(conn, "SELECT paused FROM taskq.resume_queue(queue => 'q')") is False
    assert len(audit(conn)) == 7


def test_the_actor_is_set_per_transaction_or_per_session(conn: Conn) -> None:
    task_id = enqueue(conn)
    with conn.transaction():
        conn.execute("SELECT set_config('taskq.actor', 'alice', true)")
        conn.execute("SELECT taskq.pause(%s)", (task_id,))
    conn.execute("SELECT taskq.resume(%s)", (task_id,))  # alice's setting ended with her commit
    conn.execute("SET taskq.actor = 'bob'")
    conn.execute("SELECT taskq.pause(%s)", (task_id,))
    conn.execute("SET taskq.actor = '  '")
    conn.execute("SELECT taskq.resume(%s)", (task_id,))
    assert [r["actor"] for r in audit(conn)] == ["alice", None, "bob", None]


def test_a_bad_actor_or_reason_is_22001_and_the_act_is_undone(conn: Conn) -> None:
    task_id = enqueue(conn)
    conn.execute("SELECT taskq.pause(%s, reason => %s)", (task_id, "r" * 1000))
    conn.execute("SELECT taskq.resume(%s, reason => %s)", (task_id, " \t\n"))
    with raises_sqlstate("22001", "reason must be at most 1000 characters, not 1001"):
        conn.execute("SELECT taskq.pause(%s, reason => %s)", (task_id, "r" * 1001))
    with raises_sqlstate("22001", "at most 1000 characters"):
        conn.execute("SELECT taskq.set_concurrency('q', 4, %s)", ("r" * 5000,))
    conn.execute("SELECT set_config('taskq.actor', %s, false)", ("a" * 128,))
    conn.execute("SELECT taskq.pause_queue('q')")
    conn.execute("SELECT set_config('taskq.actor', %s, false)", ("a" * 129,))
    with raises_sqlstate("22001", "taskq.actor must be at most 128 characters, not 129"):
        conn.execute("SELECT taskq.cancel(%s)", (task_id,))
    conn.execute("RESET taskq.actor")
    assert task(conn, task_id)["status"] == "QUEUED"
    assert one(conn, "SELECT concurrency FROM taskq.queue_stats WHERE queue = 'q'") == 2
    assert [(r["action"], r["actor"], r["reason"]) for r in audit(conn)] == [
        ("pause", None, "r" * 1000),
        ("resume", None, None),
        ("pause_queue", "a" * 128, None),
    ]


def test_the_column_of_a_bad_reason_or_actor(conn: Conn) -> None:
    task_id = enqueue(conn)
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT taskq.cancel(%s, %s)", (task_id, "x" * 1001))
    assert info.value.diag.column_name == "reason"
    conn.execute("SELECT set_config('taskq.actor', %s, false)", ("a" * 200,))
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT taskq.resume_queue('q')")
    assert info.value.diag.column_name == "actor"


def test_a_refused_act_writes_no_row(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    claim(conn, worker_id)
    refused = [
        ("55000", "SELECT taskq.pause(%s, reason => 'x')", (task_id,)),
        ("55000", "SELECT taskq.resume(%s)", (task_id,)),
        ("55000", "SELECT taskq.retry(%s)", (task_id,)),
        ("P0002", "SELECT taskq.cancel(%s, 'x')", (MISSING,)),
        ("P0002", "SELECT taskq.pause(%s)", (MISSING,)),
        ("22023", "SELECT taskq.set_concurrency('q', 0, 'x')", None),
        ("22023", "SELECT taskq.set_concurrency('', 3)", None),
        ("22004", "SELECT taskq.pause_queue(NULL, 'x')", None),
        ("22023", "SELECT taskq.resume_queue(' ')", None),
    ]
    for sqlstate, sql, params in refused:
        with raises_sqlstate(sqlstate):
            conn.execute(sql, params)
    assert audit(conn) == []


def test_producers_and_workers_write_no_row(conn: Conn, worker_id: UUID) -> None:
    first = enqueue(conn)
    conn.execute("SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "a"}, {"name": "b"}]),))
    conn.execute("SELECT taskq.enqueue_many(ARRAY['c'], ARRAY['{}'::jsonb])")
    rows = claim(conn, worker_id, batch_size=2)
    conn.execute("SELECT taskq.heartbeat(%s)", (worker_id,))
    conn.execute("SELECT taskq.complete(%s, %s)", (rows[0]["id"], rows[0]["lease_token"]))
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (rows[1]["id"], rows[1]["lease_token"]))
    claimed = conn.execute("SELECT id, lease_token FROM taskq.claim(%s)", (worker_id,)).fetchall()
    conn.execute(
        "SELECT taskq.complete_many(%s::uuid[], %s::uuid[])",
        ([c[0] for c in claimed], [c[1] for c in claimed]),
    )
    conn.execute("SELECT taskq.rescue_expired()")
    conn.execute("SELECT taskq.unregister_worker(%s)", (worker_id,))
    conn.execute("SELECT * FROM taskq.list_tasks()")
    conn.execute("SELECT * FROM taskq.get_task(%s)", (first,))
    assert audit(conn) == []


def test_the_act_and_its_row_commit_or_roll_back_together(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        task_id = enqueue(conn)
        with conn.transaction() as tx:
            conn.execute("SELECT taskq.cancel(%s, 'mistake')", (task_id,))
            conn.execute("SELECT taskq.set_concurrency('q', 7)")
            assert len(audit(conn)) == 2
            raise psycopg.Rollback(tx)
        assert audit(conn) == []
        assert task(conn, task_id)["status"] == "QUEUED"
        with conn.transaction():
            conn.execute("SELECT taskq.cancel(%s, 'meant it')", (task_id,))
            with psycopg.connect(database_url, autocommit=True) as other:
                assert audit(other) == [], "not seen before the commit"
        with psycopg.connect(database_url, autocommit=True) as other:
            assert [r["reason"] for r in audit(other)] == ["meant it"]
            assert task(other, task_id)["status"] == "CANCELLED"


def page(conn: Conn, **kwargs: Any) -> tuple[list[int], int | None]:
    names = ", ".join(f"{key} => %({key})s" for key in kwargs)
    rows = conn.execute(
        f"SELECT (p.entry).id, p.next_cursor FROM taskq.list_audit({names}) p", kwargs
    ).fetchall()
    return [r[0] for r in rows], (rows[0][1] if rows else None)


def test_list_audit_filters_and_pages_newest_first(conn: Conn) -> None:
    first, second = enqueue(conn, queue="a"), enqueue(conn, queue="b")
    for task_id in (first, second, first):
        conn.execute("SELECT taskq.pause(%s)", (task_id,))
    conn.execute("SELECT taskq.pause_queue('a')")
    conn.execute("SELECT taskq.cancel(%s)", (first,))
    ids = [r["id"] for r in reversed(audit(conn))]
    assert page(conn) == (ids, None)
    assert page(conn, page_size=2) == (ids[:2], ids[1])
    assert page(conn, page_size=2, after=ids[1]) == (ids[2:4], ids[3])
    assert page(conn, page_size=2, after=ids[3]) == (ids[4:], None)
    assert page(conn, page_size=1, after=ids[3]) == (ids[4:], None)
    assert page(conn, task_id=first) == ([ids[0], ids[2], ids[4]], None)
    assert page(conn, queue="a") == ([ids[0], ids[1], ids[2], ids[4]], None)
    assert page(conn, action="pause", queue="a") == ([ids[2], ids[4]], None)
    assert page(conn, action="retry") == ([], None)
    at = {r["id"]: r["at"] for r in audit(conn)}
    assert page(conn, since=at[ids[2]]) == (ids[:3], None)
    assert page(conn, before=at[ids[2]]) == (ids[3:], None)
    assert page(conn, since=at[ids[3]], before=at[ids[1]]) == (ids[2:4], None)
    assert page(conn, since=at[ids[0]] + timedelta(seconds=1)) == ([], None)
    for size in (0, 1001, None):
        with raises_sqlstate("22023", "page_size must be between 1 and 1000"):
            page(conn, page_size=size)


def test_the_indexes_serve_newest_first_and_task_lookups(conn: Conn) -> None:
    conn.execute("SET enable_seqscan = off")
    plans = {
        sql: "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())
        for sql in (
            "SELECT * FROM taskq.audit ORDER BY at DESC, id DESC LIMIT 20",
            f"SELECT * FROM taskq.audit WHERE task_id = '{MISSING}' ORDER BY id DESC",
            "DELETE FROM taskq.audit_log WHERE at < now() - interval '30 days'",
        )
    }
    for sql, plan in plans.items():
        assert "Seq Scan" not in plan, f"{sql}\n{plan}"
        assert "Sort" not in plan, f"{sql}\n{plan}"


def snapshot(url: str) -> dict[str, Any]:
    """The functions (definitions, comments), views and tables of schema taskq."""
    with psycopg.connect(url) as conn:
        functions = conn.execute(
            "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid),"
            " obj_description(p.oid, 'pg_proc')"
            " FROM pg_proc p WHERE p.pronamespace = 'taskq'::regnamespace ORDER BY 1"
        ).fetchall()
        relations = conn.execute(
            "SELECT c.relname, c.relkind, pg_get_viewdef(c.oid)"
            " FROM pg_class c WHERE c.relnamespace = 'taskq'::regnamespace ORDER BY 1"
        ).fetchall()
    return {"functions": functions, "relations": relations}


def test_revert_restores_the_released_functions_exactly(empty_database_url: str) -> None:
    migrate.sqitch("deploy", empty_database_url, "--verify", "--to", "@v0.3.0")
    released = snapshot(empty_database_url)
    migrate.deploy(empty_database_url)
    assert snapshot(empty_database_url) != released
    migrate.sqitch("revert", empty_database_url, "-y", "--to", "@v0.3.0")
    assert snapshot(empty_database_url) == released


@pytest.mark.parametrize("value", ["[]", '"x"', "5", "null"])
def test_before_and_after_are_json_objects_or_null(conn: Conn, value: str) -> None:
    """The readers decode them as objects: a function of one's own that calls _audit with
    another JSON value is refused, and so is a row written around it."""
    with raises_sqlstate("22023"):
        conn.execute("SELECT taskq._audit('mine', NULL, 'q', %s::jsonb, NULL)", (value,))
    with raises_sqlstate("22023"):
        conn.execute("SELECT taskq._audit('mine', NULL, 'q', NULL, %s::jsonb)", (value,))
    with raises_sqlstate("23514"):
        conn.execute(
            "INSERT INTO taskq.audit_log (action, after) VALUES ('mine', %s::jsonb)", (value,)
        )
    conn.execute("SELECT taskq._audit('mine', NULL, 'q', NULL, '{\"a\": 1}')")
    assert one(conn, "SELECT after FROM taskq.audit WHERE action = 'mine'") == {"a": 1}
