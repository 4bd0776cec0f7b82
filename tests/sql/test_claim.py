from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg

from taskq import client
from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task


def test_claim_marks_running_with_a_lease(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    [row] = claim(conn, worker_id, lease=timedelta(seconds=45))
    assert row["id"] == task_id
    assert row["status"] == "RUNNING"
    assert row["attempts"] == 1
    assert row["worker_id"] == worker_id
    assert row["lease_token"] is not None
    assert row["started_at"] is not None
    assert row["lease_expires_at"] - row["started_at"] == timedelta(seconds=45)
    assert claim(conn, worker_id) == []


def test_order_is_priority_then_scheduled_at_then_age(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    past = datetime.now(UTC) - timedelta(minutes=5)
    low = enqueue(conn, "low", priority="LOW")
    medium_old = enqueue(conn, "medium-old")
    medium_new = enqueue(conn, "medium-new")
    medium_early = enqueue(conn, "medium-early", scheduled_at=past)
    high = enqueue(conn, "high", priority="HIGH")
    claimed = [claim(conn, worker_id)[0]["id"] for _ in range(5)]
    assert claimed == [high, medium_early, medium_old, medium_new, low]


def test_batch_returns_the_best_in_order(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', 10)")
    ids = [enqueue(conn, f"t{i}") for i in range(6)]
    high = enqueue(conn, "high", priority="HIGH")
    rows = claim(conn, worker_id, batch_size=4)
    assert [r["id"] for r in rows] == [high, *ids[:3]]
    assert len({r["lease_token"] for r in rows}) == 4


def test_scheduled_tasks_are_invisible_until_due(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn, scheduled_at=datetime.now(UTC) + timedelta(hours=1))
    assert claim(conn, worker_id) == []
    due = enqueue(conn, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
    assert [r["id"] for r in claim(conn, worker_id)] == [due]


def test_next_due_is_the_next_future_time(conn: Conn) -> None:
    assert one(conn, "SELECT taskq.next_due()") is None
    at = datetime(2031, 5, 1, tzinfo=UTC)
    enqueue(conn, scheduled_at=at, queue="a")
    enqueue(conn, scheduled_at=at + timedelta(days=1), queue="b")
    enqueue(conn, queue="a")  # due now: announced by NOTIFY, not by next_due
    assert one(conn, "SELECT taskq.next_due()") == at
    assert one(conn, "SELECT taskq.next_due(ARRAY['b'])") == at + timedelta(days=1)
    assert one(conn, "SELECT taskq.next_due(ARRAY['c'])") is None


def test_paused_tasks_and_paused_queues_are_never_claimed(conn: Conn, worker_id: UUID) -> None:
    paused = enqueue(conn, "a")
    conn.execute("SELECT taskq.pause(%s)", (paused,))
    enqueue(conn, "b", queue="stopped")
    conn.execute("SELECT taskq.pause_queue('stopped')")
    assert claim(conn, worker_id, batch_size=10) == []
    conn.execute("SELECT taskq.resume_queue('stopped')")
    assert [r["name"] for r in claim(conn, worker_id)] == ["b"]
    conn.execute("SELECT taskq.resume(%s)", (paused,))
    assert [r["id"] for r in claim(conn, worker_id)] == [paused]


def test_queue_and_name_filters(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn, "a", queue="q1")
    enqueue(conn, "b", queue="q2")
    enqueue(conn, "c", queue="q2")
    assert [r["name"] for r in claim(conn, worker_id, queues=["q1"], batch_size=5)] == ["a"]
    assert [r["name"] for r in claim(conn, worker_id, names=["c"], batch_size=5)] == ["c"]
    assert [r["name"] for r in claim(conn, worker_id, queues=["q3"], batch_size=5)] == []
    assert [r["name"] for r in claim(conn, worker_id, batch_size=5)] == ["b"]


def test_default_concurrency_is_two(conn: Conn, worker_id: UUID) -> None:
    for _ in range(5):
        enqueue(conn)
    assert len(claim(conn, worker_id, batch_size=5)) == 2
    assert claim(conn, worker_id) == []


def test_a_full_queue_does_not_block_another(conn: Conn, worker_id: UUID) -> None:
    for _ in range(3):
        enqueue(conn, "busy", queue="busy", priority="HIGH")
    enqueue(conn, "other", queue="other", priority="LOW")
    names = [r["name"] for r in claim(conn, worker_id, batch_size=10)]
    assert sorted(names) == ["busy", "busy", "other"]


def test_batch_over_queues_keeps_global_order(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('a', 5)")
    conn.execute("SELECT taskq.set_concurrency('b', 5)")
    a_low = enqueue(conn, queue="a", priority="LOW")
    b_high = enqueue(conn, queue="b", priority="HIGH")
    a_high = enqueue(conn, queue="a", priority="HIGH")
    enqueue(conn, queue="b", priority="LOW")
    rows = claim(conn, worker_id, batch_size=3)
    assert [r["id"] for r in rows] == [b_high, a_high, a_low]


def test_unknown_worker(conn: Conn) -> None:
    enqueue(conn)
    with raises_sqlstate("P0002", "is not registered"):
        conn.execute("SELECT * FROM taskq.claim_next('00000000-0000-7000-8000-000000000000')")


def test_bad_claim_arguments(conn: Conn, worker_id: UUID) -> None:
    with raises_sqlstate("22023", "batch_size"):
        claim(conn, worker_id, batch_size=0)
    with raises_sqlstate("22023", "lease"):
        claim(conn, worker_id, lease=timedelta(0))


def test_slot_is_taken_and_freed(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    [row] = claim(conn, worker_id)
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id = %s", (task_id,)) == 1
    conn.execute("SELECT taskq.complete(%s, %s)", (task_id, row["lease_token"]))
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 0
    assert task(conn, task_id)["status"] == "COMPLETED"


def test_freed_slot_notifies(conn: Conn, worker_id: UUID, database_url: str) -> None:
    task_id = enqueue(conn)
    [row] = claim(conn, worker_id)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN taskq")
        conn.execute("SELECT taskq.complete(%s, %s)", (task_id, row["lease_token"]))
        notes = list(listener.notifies(timeout=2, stop_after=1))
    assert [n.payload for n in notes] == ["default"]


async def test_seconds_until_due_counts_by_the_servers_clock(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await client.seconds_until_due(conn, ["soon"]) is None
        await client.enqueue(
            conn, "x", queue="soon", scheduled_at=datetime.now(UTC) + timedelta(seconds=30)
        )
        await client.enqueue(
            conn, "x", queue="later", scheduled_at=datetime.now(UTC) + timedelta(hours=2)
        )
        wait = await client.seconds_until_due(conn, ["soon"])
        assert wait is not None
        assert 28 < wait <= 30
        later = await client.seconds_until_due(conn, None)
        assert later is not None
        assert 28 < later <= 30
        assert await client.seconds_until_due(conn, ["nowhere"]) is None
