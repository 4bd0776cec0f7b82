"""held_tasks: the RUNNING tasks of one worker, and nothing else."""

from __future__ import annotations

from uuid import UUID

from psycopg.rows import dict_row

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate


def held(conn: Conn, worker_id: UUID) -> list[dict[str, object]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM taskq.held_tasks(%s)", (worker_id,)).fetchall()


def test_a_worker_holds_its_running_tasks_only(conn: Conn, worker_id: UUID) -> None:
    other = one(conn, "SELECT taskq.register_worker('other')")
    assert held(conn, worker_id) == []
    ids = [enqueue(conn, queue="a") for _ in range(3)]
    conn.execute("SELECT taskq.set_concurrency('a', NULL)")
    enqueue(conn, queue="b")
    mine = claim(conn, worker_id, batch_size=2, queues=["a"])
    [theirs] = claim(conn, other, queues=["b"])
    done = claim(conn, worker_id, queues=["a"])[0]
    conn.execute("SELECT taskq.complete(%s, %s)", (done["id"], done["lease_token"]))
    rows = held(conn, worker_id)
    assert [row["id"] for row in rows] == sorted(row["id"] for row in mine)
    assert {row["id"] for row in rows} < set(ids)
    # whole rows, with the lease tokens the worker needs to report their outcomes
    assert [row["lease_token"] for row in rows] == [
        row["lease_token"] for row in sorted(mine, key=lambda row: row["id"])
    ]
    assert all(row["status"] == "RUNNING" and row["worker_id"] == worker_id for row in rows)
    assert [row["id"] for row in held(conn, other)] == [theirs["id"]]


def test_a_task_handed_back_is_no_longer_held(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn)
    claim(conn, worker_id)
    assert len(held(conn, worker_id)) == 1
    conn.execute("SELECT taskq.unregister_worker(%s)", (worker_id,))
    with raises_sqlstate("P0002", "is not registered"):
        held(conn, worker_id)


def test_an_unknown_or_null_worker_is_not_found(conn: Conn) -> None:
    with raises_sqlstate("P0002", "is not registered"):
        held(conn, UUID("00000000-0000-7000-8000-000000000000"))
    with raises_sqlstate("P0002", "is not registered"):
        conn.execute("SELECT * FROM taskq.held_tasks(NULL)")
