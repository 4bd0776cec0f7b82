"""Leases, heartbeats and the times of a task count from the moment of the call, not from the
start of the transaction that makes it (a transaction held open longer than the lease)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from tests.sql.conftest import Conn, claim, enqueue, one, task

LEASE = timedelta(seconds=2)


def test_a_claim_late_in_a_transaction_gets_its_whole_lease(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    task_id = enqueue(conn)
    with psycopg.connect(database_url) as held:  # a transaction, open from its first statement
        started: datetime = one(held, "SELECT now()")
        time.sleep(LEASE.total_seconds() + 0.2)
        before: datetime = one(held, "SELECT clock_timestamp()")
        [row] = claim(held, worker_id, lease=LEASE)
        held.commit()
    assert row["started_at"] >= before > started + LEASE
    assert row["lease_expires_at"] == row["started_at"] + LEASE
    # the lease still runs when the transaction commits: nothing to rescue, nobody can claim it
    assert one(conn, "SELECT taskq.rescue_expired()") == 0
    other = one(conn, "SELECT taskq.register_worker('other')")
    assert claim(conn, other) == []
    assert task(conn, task_id)["status"] == "RUNNING"


def test_a_heartbeat_late_in_a_transaction_extends_by_the_whole_lease(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    task_id = enqueue(conn)
    claim(conn, worker_id, lease=timedelta(seconds=30))
    with psycopg.connect(database_url) as held:
        one(held, "SELECT now()")
        time.sleep(LEASE.total_seconds() + 0.2)
        before: datetime = one(held, "SELECT clock_timestamp()")
        held.execute("SELECT taskq.heartbeat(%s, %s)", (worker_id, LEASE))
        held.commit()
    row = task(conn, task_id)
    assert row["lease_expires_at"] >= before + LEASE
    beat = one(conn, "SELECT heartbeat_at FROM taskq.workers WHERE id = %s", (worker_id,))
    assert beat >= before


def test_outcomes_late_in_a_transaction_are_stamped_when_they_happen(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    done, failed, done_many, failed_many = (enqueue(conn, queue=f"q{n}") for n in range(4))
    claimed = {r["id"]: r["lease_token"] for r in claim(conn, worker_id, batch_size=4)}
    with psycopg.connect(database_url) as held:
        one(held, "SELECT now()")
        time.sleep(0.3)
        before: datetime = one(held, "SELECT clock_timestamp()")
        held.execute("SELECT taskq.complete(%s, %s)", (done, claimed[done]))
        held.execute(
            "SELECT taskq.fail(%s, %s, 'boom', retry_delay => '0 seconds')",
            (failed, claimed[failed]),
        )
        held.execute(
            "SELECT taskq.complete_many(jsonb_build_array(jsonb_build_object("
            "'task_id', %s::text, 'lease_token', %s::text)))",
            (done_many, claimed[done_many]),
        )
        held.execute(
            "SELECT taskq.fail_many(jsonb_build_array(jsonb_build_object("
            "'task_id', %s::text, 'lease_token', %s::text, 'error', 'boom',"
            " 'retry_delay', '0 seconds')))",
            (failed_many, claimed[failed_many]),
        )
        held.commit()
    assert task(conn, done)["finished_at"] >= before
    assert task(conn, done_many)["finished_at"] >= before
    for task_id in (failed, failed_many):
        row = task(conn, task_id)
        assert row["scheduled_at"] >= before
        assert datetime.fromisoformat(row["errors"][-1]["at"]) >= before


def test_rescue_in_a_transaction_compares_with_the_moment_of_the_call(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    task_id = enqueue(conn)
    with psycopg.connect(database_url) as held:
        one(held, "SELECT now()")  # the transaction starts before the claim
        claim(conn, worker_id, lease=timedelta(milliseconds=200))
        time.sleep(0.5)
        assert one(held, "SELECT taskq.rescue_expired()") == 1
        held.commit()
    assert task(conn, task_id)["status"] == "QUEUED"


def test_cancel_and_retry_late_in_a_transaction_are_stamped_when_they_happen(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    queued, paused, failed = (enqueue(conn, queue=f"q{n}", max_attempts=1) for n in range(3))
    conn.execute("SELECT taskq.pause(%s)", (paused,))
    [row] = claim(conn, worker_id, queues=["q2"])
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (failed, row["lease_token"]))
    with psycopg.connect(database_url) as held:
        started: datetime = one(held, "SELECT now()")
        time.sleep(0.3)
        before: datetime = one(held, "SELECT clock_timestamp()")
        held.execute("SELECT taskq.cancel(%s)", (queued,))
        held.execute("SELECT taskq.cancel(%s)", (paused,))
        held.execute("SELECT taskq.retry(%s)", (failed,))
        cancelled_late: datetime = one(held, "SELECT clock_timestamp()")
        held.execute("SELECT taskq.retry(%s)", (queued,))
        held.commit()
    assert before > started
    assert cancelled_late >= task(conn, paused)["finished_at"] >= before
    for task_id in (failed, queued):
        row = task(conn, task_id)
        assert (row["status"], row["attempts"]) == ("QUEUED", 0)
        assert row["scheduled_at"] >= before
    assert task(conn, queued)["scheduled_at"] >= cancelled_late
