"""taskq.table_health and taskq.cleanup_holders: sizes, dead tuples, what holds back VACUUM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.sql.conftest import Conn, enqueue, one, raises_sqlstate

GID = "taskq-health-test"


def health(conn: Conn) -> dict[str, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["table_name"]: r for r in cur.execute("SELECT * FROM taskq.table_health")}


def holders(conn: Conn) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM taskq.cleanup_holders").fetchall()


def of_pid(conn: Conn, pid: int) -> list[dict[str, Any]]:
    return [row for row in holders(conn) if row["pid"] == pid]


@contextmanager
def repeatable_read_snapshot(database_url: str) -> Iterator[Conn]:
    """Another connection in a REPEATABLE READ transaction that ran one SELECT and stays open."""
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SET application_name = 'health-test-holder'")
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute("SELECT 1")
        yield other
        other.execute("ROLLBACK")


def test_table_health_lists_every_taskq_table(conn: Conn) -> None:
    enqueue(conn)
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'taskq'"
        ).fetchall()
    }
    assert {"tasks", "queues", "slots", "workers"} <= tables
    rows = health(conn)
    assert set(rows) == tables
    for name, row in rows.items():
        assert row["total_bytes"] == row["table_bytes"] + row["index_bytes"], name
        assert row["index_bytes"] > 0, name  # every taskq table has a primary key
        assert row["live_tuples"] >= 0, name
        assert row["dead_tuples"] >= 0, name
        assert 0 <= row["dead_fraction"] <= 1, name
    assert rows["tasks"]["table_bytes"] > 0


def test_table_health_counts_dead_tuples_and_vacuums(conn: Conn) -> None:
    # no autovacuum between the DELETE and the reads
    conn.execute("ALTER TABLE taskq.tasks SET (autovacuum_enabled = off)")
    conn.execute(
        "SELECT taskq.enqueue_many(jsonb_agg(jsonb_build_object('name', 'job'))) "
        "FROM generate_series(1, 300)"
    )
    conn.execute("DELETE FROM taskq.tasks WHERE id IN (SELECT id FROM taskq.tasks LIMIT 200)")
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")
    tasks = health(conn)["tasks"]
    assert tasks["live_tuples"] == 100
    assert tasks["dead_tuples"] == 200
    assert tasks["dead_fraction"] == pytest.approx(200 / 300)
    assert tasks["n_mod_since_analyze"] == 500
    assert tasks["last_vacuum"] is None
    assert tasks["vacuum_count"] == 0

    conn.execute("ANALYZE taskq.tasks")
    tasks = health(conn)["tasks"]
    assert tasks["dead_tuples"] == 200
    assert tasks["n_mod_since_analyze"] == 0
    assert tasks["last_analyze"] is not None
    assert tasks["analyze_count"] == 1

    conn.execute("VACUUM taskq.tasks")
    tasks = health(conn)["tasks"]
    assert tasks["dead_tuples"] == 0
    assert tasks["dead_fraction"] == 0
    assert tasks["last_vacuum"] is not None
    assert tasks["vacuum_count"] == 1


def test_a_repeatable_read_snapshot_is_the_horizon_until_it_ends(
    conn: Conn, database_url: str
) -> None:
    with repeatable_read_snapshot(database_url) as other:
        pid = other.info.backend_pid
        enqueue(conn)  # an xid after the snapshot: its xmin is at least one xid old
        [row] = of_pid(conn, pid)
        assert row["holder"] == "session"
        assert row["name"] == "health-test-holder"
        assert row["database"] == one(conn, "SELECT current_database()")
        assert row["state"] == "idle in transaction"
        assert row["xmin_age"] >= 1
        assert row["age"].total_seconds() > 0
        assert row["since"] is not None
        assert row["query_start"] is not None
        assert row["holds_back_taskq"]
        assert row["is_horizon"]
        # the session reading the view is not listed
        assert of_pid(conn, conn.info.backend_pid) == []
    assert of_pid(conn, pid) == []
    assert not any(row["is_horizon"] for row in holders(conn))


def test_a_session_of_another_database_does_not_hold_back_the_taskq_tables(
    conn: Conn, empty_database_url: str
) -> None:
    with repeatable_read_snapshot(empty_database_url) as other:
        [row] = of_pid(conn, other.info.backend_pid)
        assert row["holder"] == "session"
        assert row["holds_back_taskq"] is False
        assert row["is_horizon"] is False
        # what it does stays its own (the view runs with pg_read_all_stats)
        assert (row["state"], row["since"], row["age"], row["query_start"]) == (None,) * 4


def test_a_prepared_transaction_holds_the_horizon_until_it_ends(
    conn: Conn, database_url: str
) -> None:
    if int(one(conn, "SHOW max_prepared_transactions")) == 0:
        pytest.skip("the server runs with max_prepared_transactions = 0")
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("BEGIN")
        xid = one(other, "SELECT pg_current_xact_id()::text")
        other.execute(f"PREPARE TRANSACTION '{GID}'")
        try:
            enqueue(conn)
            [row] = [r for r in holders(conn) if r["holder"] == "prepared transaction"]
            assert row["name"] == GID
            assert row["pid"] is None
            assert str(row["xmin"]) == xid
            assert row["xmin_age"] >= 1
            assert row["age"].total_seconds() > 0
            assert row["holds_back_taskq"]
            assert row["is_horizon"]
        finally:
            other.execute(f"ROLLBACK PREPARED '{GID}'")
    assert [r for r in holders(conn) if r["holder"] == "prepared transaction"] == []


@pytest.fixture
def reader(conn: Conn) -> Iterator[str]:
    """A NOLOGIN role, not a superuser, a member of taskq_reader only (which may read the two
    views and run the function cleanup_holders calls)."""
    name = f"taskq_health_reader_{os.getpid()}"
    role = sql.Identifier(name)
    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN IN ROLE taskq_reader").format(role))
    try:
        yield name
    finally:
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
        conn.execute(sql.SQL("DROP ROLE {}").format(role))


def test_a_reader_that_is_not_a_superuser_sees_every_holder(
    conn: Conn, database_url: str, reader: str
) -> None:
    enqueue(conn)
    with repeatable_read_snapshot(database_url) as other:
        pid = other.info.backend_pid
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(reader)))
        assert one(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        with raises_sqlstate("42501"):
            conn.execute("SELECT count(*) FROM taskq.tasks")
        # pg_stat_activity hides the times of another role's session from this role ...
        assert one(conn, "SELECT xact_start FROM pg_stat_activity WHERE pid = %s", (pid,)) is None
        # ... which the view shows
        [row] = of_pid(conn, pid)
        assert row["is_horizon"]
        assert row["state"] == "idle in transaction"
        assert row["age"] is not None
        assert row["age"].total_seconds() > 0
        rows = health(conn)
        assert {"tasks", "queues", "slots", "workers"} <= set(rows)
        assert rows["tasks"]["total_bytes"] > 0
