"""Queues: concurrency slots (raise, lower, unlimited), pausing."""

from __future__ import annotations

from uuid import UUID

import pytest

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate


def running_count(conn: Conn, queue: str = "default") -> int:
    value = one(
        conn, "SELECT count(*) FROM taskq.tasks WHERE queue = %s AND status = 'RUNNING'", (queue,)
    )
    assert isinstance(value, int)
    return value


def test_set_concurrency_creates_and_raises(conn: Conn, worker_id: UUID) -> None:
    row = conn.execute(
        "SELECT name, concurrency, paused FROM taskq.set_concurrency('big', 5)"
    ).fetchone()
    assert row == ("big", 5, False)
    for _ in range(8):
        enqueue(conn, queue="big")
    assert len(claim(conn, worker_id, batch_size=8)) == 5
    conn.execute("SELECT taskq.set_concurrency('big', 7)")
    assert len(claim(conn, worker_id, batch_size=8)) == 2
    assert running_count(conn, "big") == 7


def test_lowering_never_interrupts_and_waits_below_the_new_limit(
    conn: Conn, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', 4)")
    for _ in range(10):
        enqueue(conn)
    held = claim(conn, worker_id, batch_size=4)
    assert len(held) == 4
    conn.execute("SELECT taskq.set_concurrency('default', 2)")
    assert running_count(conn) == 4  # nothing interrupted
    assert claim(conn, worker_id) == []
    for row in held[:2]:
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
        assert claim(conn, worker_id) == []  # 3, then 2 running: not fewer than 2
    conn.execute("SELECT taskq.complete(%s, %s)", (held[2]["id"], held[2]["lease_token"]))
    assert len(claim(conn, worker_id, batch_size=5)) == 1
    assert running_count(conn) == 2
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'default'") == 2


def test_unlimited_queue(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    for _ in range(30):
        enqueue(conn)
    assert len(claim(conn, worker_id, batch_size=30)) == 30
    assert one(conn, "SELECT concurrency FROM taskq.queues WHERE name = 'default'") is None


def test_limiting_an_unlimited_queue_counts_its_running_tasks(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    for _ in range(6):
        enqueue(conn)
    held = claim(conn, worker_id, batch_size=3)
    conn.execute("SELECT taskq.set_concurrency('default', 2)")
    assert claim(conn, worker_id) == []
    for row in held[:2]:
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
    assert len(claim(conn, worker_id, batch_size=5)) == 1
    assert running_count(conn) == 2


def test_unlimited_then_limited_again_drops_slots_as_tasks_end(conn: Conn, worker_id: UUID) -> None:
    for _ in range(4):
        enqueue(conn)
    held = claim(conn, worker_id, batch_size=2)
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    more = claim(conn, worker_id, batch_size=2)
    assert len(more) == 2
    for row in held + more:
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'default'") == 0


@pytest.mark.parametrize("value", [0, -1, 10001, 2147483647])
def test_concurrency_out_of_range(conn: Conn, value: int) -> None:
    with raises_sqlstate("22023", "concurrency must be between 1 and 10000"):
        conn.execute("SELECT taskq.set_concurrency('default', %s)", (value,))


def test_pause_and_resume_queue_are_idempotent(conn: Conn, worker_id: UUID) -> None:
    assert one(conn, "SELECT paused FROM taskq.pause_queue('new')") is True
    assert one(conn, "SELECT paused FROM taskq.pause_queue('new')") is True
    enqueue(conn, queue="new")
    assert claim(conn, worker_id) == []
    assert one(conn, "SELECT paused FROM taskq.resume_queue('new')") is False
    assert one(conn, "SELECT paused FROM taskq.resume_queue('new')") is False
    assert len(claim(conn, worker_id)) == 1


def test_pausing_a_queue_lets_running_tasks_finish(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn)
    enqueue(conn)
    [row] = claim(conn, worker_id)
    conn.execute("SELECT taskq.pause_queue('default')")
    done = conn.execute(
        "SELECT status FROM taskq.complete(%s, %s)", (row["id"], row["lease_token"])
    ).fetchone()
    assert done == ("COMPLETED",)
    assert claim(conn, worker_id) == []
