"""Leases: expiry, rescue (explicit and lazy), heartbeats, fencing, workers leaving."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

SHORT = timedelta(milliseconds=200)
# a lease that has ended by the next statement (claim_next takes no moment to count by)
ENDED = timedelta(microseconds=1)
# rescue as of a minute from now: a SHORT lease has run out, an hour's has not
RESCUE_LATER = "SELECT taskq._rescue_expired(now => clock_timestamp() + interval '1 minute')"


def test_expired_lease_is_rescued_and_the_attempt_counts(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    claim(conn, worker_id, lease=SHORT)
    assert one(conn, "SELECT taskq.rescue_expired()") == 0
    assert one(conn, RESCUE_LATER) == 1
    row = task(conn, task_id)
    assert (row["status"], row["attempts"], row["lease_token"]) == ("QUEUED", 1, None)
    assert "lease expired" in row["last_error"]
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 0


def test_a_lease_has_run_out_when_it_ends_before_now(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    [row] = claim(conn, worker_id, lease=timedelta(hours=1))
    rescue = "SELECT taskq._rescue_expired(now => %s)"
    assert one(conn, rescue, (row["lease_expires_at"],)) == 0
    assert task(conn, task_id)["status"] == "RUNNING"
    later = row["lease_expires_at"] + timedelta(microseconds=1)
    assert one(conn, rescue, (later,)) == 1
    row = task(conn, task_id)
    assert (row["status"], row["scheduled_at"]) == ("QUEUED", later)  # due as of that moment


def test_claim_rescues_lazily_and_fences_the_stale_worker(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    [stale] = claim(conn, worker_id, lease=ENDED)
    other = one(conn, "SELECT taskq.register_worker('other')")
    [fresh] = claim(conn, other)
    assert fresh["id"] == task_id
    assert fresh["attempts"] == 2
    assert fresh["lease_token"] != stale["lease_token"]
    with raises_sqlstate("55000", "is RUNNING"):
        conn.execute("SELECT taskq.complete(%s, %s)", (task_id, stale["lease_token"]))
    with raises_sqlstate("55000", "is RUNNING"):
        conn.execute("SELECT taskq.fail(%s, %s, 'late')", (task_id, stale["lease_token"]))
    # the stale worker's heartbeat no longer touches the task
    conn.execute("SELECT taskq.heartbeat(%s)", (worker_id,))
    assert task(conn, task_id)["worker_id"] == other
    conn.execute("SELECT taskq.complete(%s, %s)", (task_id, fresh["lease_token"]))
    assert task(conn, task_id)["status"] == "COMPLETED"


def test_expired_lease_with_no_attempt_left_fails(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn, max_attempts=1)
    claim(conn, worker_id, lease=SHORT)
    conn.execute(RESCUE_LATER)
    row = task(conn, task_id)
    assert row["status"] == "FAILED"
    assert row["finished_at"] is not None


def test_expired_lease_of_a_cancelled_task_ends_cancelled(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    claim(conn, worker_id, lease=SHORT)
    conn.execute("SELECT taskq.cancel(%s)", (task_id,))
    conn.execute(RESCUE_LATER)
    assert task(conn, task_id)["status"] == "CANCELLED"


def test_heartbeat_extends_leases_even_expired_ones(conn: Conn, worker_id: UUID) -> None:
    task_id = enqueue(conn)
    claim(conn, worker_id, lease=ENDED)
    conn.execute("SELECT taskq.heartbeat(%s, interval '1 hour')", (worker_id,))
    assert one(conn, RESCUE_LATER) == 0
    row = task(conn, task_id)
    assert row["status"] == "RUNNING"
    assert row["lease_expires_at"] - row["started_at"] > timedelta(minutes=59)


def test_heartbeat_with_task_ids_extends_only_those(conn: Conn, worker_id: UUID) -> None:
    kept, dropped, cancelled = (enqueue(conn, queue=f"q{n}") for n in range(3))
    claim(conn, worker_id, lease=SHORT, batch_size=3)
    conn.execute("SELECT taskq.cancel(%s)", (cancelled,))
    conn.execute("SELECT taskq.cancel(%s)", (dropped,))
    asked = conn.execute(
        "SELECT * FROM taskq.heartbeat(%s, interval '1 hour', task_ids => %s)",
        (worker_id, [kept, cancelled, UUID(int=0)]),  # an id it does not hold changes nothing
    ).fetchall()
    assert asked == [(cancelled,)]  # the cancellations asked of the tasks named, only
    assert one(conn, RESCUE_LATER) == 1
    assert task(conn, dropped)["status"] == "CANCELLED"  # its lease ran out
    for task_id in (kept, cancelled):
        row = task(conn, task_id)
        assert row["status"] == "RUNNING"
        assert row["lease_expires_at"] - row["started_at"] > timedelta(minutes=59)


def test_heartbeat_with_no_task_ids_extends_none_but_keeps_the_worker_alive(
    conn: Conn, worker_id: UUID
) -> None:
    task_id = enqueue(conn)
    claim(conn, worker_id, lease=SHORT)
    conn.execute("UPDATE taskq.workers SET heartbeat_at = now() - interval '1 hour'")
    conn.execute("SELECT taskq.heartbeat(%s, task_ids => '{}')", (worker_id,))
    beat = one(conn, "SELECT heartbeat_at FROM taskq.workers WHERE id = %s", (worker_id,))
    assert beat > task(conn, task_id)["started_at"]
    assert one(conn, RESCUE_LATER) == 1
    assert task(conn, task_id)["status"] == "QUEUED"


def test_heartbeat_is_one_function(conn: Conn) -> None:
    signatures = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " WHERE p.proname = 'heartbeat' AND p.pronamespace = 'taskq'::regnamespace"
    ).fetchall()
    assert signatures == [("taskq.heartbeat(uuid,interval,uuid[])",)]


def test_heartbeat_of_an_unknown_worker(conn: Conn) -> None:
    with raises_sqlstate("P0002", "is not registered"):
        conn.execute("SELECT taskq.heartbeat('00000000-0000-7000-8000-000000000000')")


def test_heartbeat_bad_lease(conn: Conn, worker_id: UUID) -> None:
    with raises_sqlstate("22023", "lease must be a positive interval"):
        conn.execute("SELECT taskq.heartbeat(%s, interval '0')", (worker_id,))


def test_unregister_hands_tasks_back_without_counting_the_attempt(
    conn: Conn, worker_id: UUID
) -> None:
    first = enqueue(conn)
    second = enqueue(conn)
    claim(conn, worker_id, batch_size=2)
    assert one(conn, "SELECT taskq.unregister_worker(%s)", (worker_id,)) == 2
    for task_id in (first, second):
        row = task(conn, task_id)
        assert (row["status"], row["attempts"], row["lease_token"]) == ("QUEUED", 0, None)
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 0
    with raises_sqlstate("P0002", "is not registered"):
        claim(conn, worker_id)
    with raises_sqlstate("P0002", "is not registered"):
        conn.execute("SELECT taskq.unregister_worker(%s)", (worker_id,))


def test_register_worker(conn: Conn) -> None:
    worker = one(conn, "SELECT taskq.register_worker('w1', ARRAY['a', 'b'], 'host1', 42)")
    assert isinstance(worker, UUID)
    assert worker.version == 7
    row = conn.execute(
        "SELECT name, queues, host, pid FROM taskq.workers WHERE id = %s", (worker,)
    ).fetchone()
    assert row == ("w1", ["a", "b"], "host1", 42)
    with raises_sqlstate("22023", "non-empty name"):
        conn.execute("SELECT taskq.register_worker('')")


def test_a_client_cannot_rescue_by_a_moment_of_its_own(conn: Conn, worker_id: UUID) -> None:
    """rescue_expired takes no moment; the internal function that does is the owner's only: a
    worker's role cannot end leases early."""
    task_id = enqueue(conn)
    claim(conn, worker_id, lease=timedelta(hours=1))
    with raises_sqlstate("42883"):  # no rescue_expired(timestamptz)
        one(conn, "SELECT taskq.rescue_expired(now() + interval '2 hours')")
    conn.execute("CREATE ROLE taskq_test_client NOLOGIN IN ROLE taskq_worker")
    try:
        conn.execute("SET ROLE taskq_test_client")
        try:
            with raises_sqlstate("42501"):  # insufficient_privilege
                one(conn, "SELECT taskq._rescue_expired(now() + interval '2 hours')")
            assert one(conn, "SELECT taskq.rescue_expired()") == 0
        finally:
            conn.execute("RESET ROLE")
        assert task(conn, task_id)["status"] == "RUNNING"
    finally:
        conn.execute("DROP ROLE taskq_test_client")
