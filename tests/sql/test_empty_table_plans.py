"""Calls planned while taskq.tasks looked empty read only the rows they take (claim@v0.7.0 rework).

claim_next's statements are planned once per session (plan_cache_mode = force_generic_plan),
with the statistics of that moment. A table analysed while empty, its pages truncated by VACUUM
(as a drained queue's table is), looks like one row to the planner: a join of what a statement
took to taskq.tasks was then planned with taskq.tasks outside, and read every task for each task
taken. Each test plans the calls on empty tables, fills them without a new ANALYZE, and counts
the index entries the next call reads (pg_stat_get_xact_tuples_returned: this transaction's reads).
"""

from __future__ import annotations

from uuid import UUID

from tests.sql.conftest import Conn, claim, one

TASKS = 5_000
BATCH = 100


def fill(conn: Conn, queue: str, count: int = TASKS) -> None:
    """``count`` due tasks of ``queue``, named ``a``, inserted directly (no ANALYZE after)."""
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name, created_at, scheduled_at)"
        " SELECT %(queue)s, 'a', now() - n * interval '1 ms', now() - n * interval '1 ms'"
        " FROM generate_series(1, %(count)s) n",
        {"queue": queue, "count": count},
    )


def entries_read(conn: Conn, index: str) -> int:
    """Index entries this transaction has read from ``index`` so far."""
    value = one(conn, "SELECT pg_stat_get_xact_tuples_returned(%s::regclass)", (f"taskq.{index}",))
    return int(value)


def plan_on_empty_tables(conn: Conn, worker_id: UUID, queue: str) -> None:
    """Analyse the empty tables, then run every claim form once so that its plans are made."""
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 0
    conn.execute("VACUUM ANALYZE taskq.tasks")
    conn.execute("VACUUM ANALYZE taskq.slots")
    assert one(conn, "SELECT relpages FROM pg_class WHERE oid = 'taskq.tasks'::regclass") == 0
    assert claim(conn, worker_id, queues=[queue], batch_size=BATCH) == []
    assert claim(conn, worker_id, queues=[queue], names=["a", "b"], batch_size=BATCH) == []
    assert claim(conn, worker_id, batch_size=BATCH) == []


def test_a_claim_planned_on_an_empty_table_reads_only_the_tasks_it_takes(
    conn: Conn, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('plans', NULL)")
    plan_on_empty_tables(conn, worker_id, "plans")
    fill(conn, "plans")
    for names in (None, ["a", "b"]):
        with conn.transaction():
            before = entries_read(conn, "tasks_pkey")
            taken = claim(conn, worker_id, queues=["plans"], names=names, batch_size=BATCH)
            read = entries_read(conn, "tasks_pkey") - before
        assert len(taken) == BATCH
        assert all(row["status"] == "RUNNING" and row["slot"] is None for row in taken)
        # the update finds each task taken by its key: one entry each, not every task
        assert read <= 2 * BATCH, (names, read)


def test_a_rescue_planned_on_an_empty_table_reads_only_the_tasks_it_rescues(
    conn: Conn, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('plans', NULL)")
    plan_on_empty_tables(conn, worker_id, "plans")
    # as claim_next calls it: under claim_next's settings
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute("SET enable_hashjoin = off")
    conn.execute("SET enable_seqscan = off")
    conn.execute("SET enable_sort = off")
    assert one(conn, "SELECT taskq._rescue_expired(now() + interval '1 hour')") == 0
    fill(conn, "plans")
    taken = claim(conn, worker_id, queues=["plans"], batch_size=BATCH)
    assert len(taken) == BATCH
    with conn.transaction():
        before = entries_read(conn, "tasks_pkey")
        rescued = one(conn, "SELECT taskq._rescue_expired(now() + interval '1 hour')")
        read = entries_read(conn, "tasks_pkey") - before
    assert rescued == BATCH
    assert one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'QUEUED'") == TASKS
    assert read <= 2 * BATCH, read


def test_a_slot_claim_planned_on_empty_tables_reads_only_the_slots_it_takes(
    conn: Conn, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('plans', 1)")
    plan_on_empty_tables(conn, worker_id, "plans")
    conn.execute("SELECT taskq.set_concurrency('plans', 5000)")
    fill(conn, "plans", BATCH)
    with conn.transaction():
        before = entries_read(conn, "slots_pkey")
        taken = claim(conn, worker_id, queues=["plans"], batch_size=BATCH)
        read = entries_read(conn, "slots_pkey") - before
    assert len(taken) == BATCH
    # each task got its own slot, and each of those slots names its task
    slots = {row["slot"] for row in taken}
    assert len(slots) == BATCH
    assert None not in slots
    pairs = conn.execute("SELECT id, task_id FROM taskq.slots WHERE task_id IS NOT NULL").fetchall()
    assert {(row["slot"], row["id"]) for row in taken} == {(slot, task) for slot, task in pairs}
    # the free slots of the claim are read in order (at most the batch), then each taken by key
    assert read <= 3 * BATCH, read


def test_a_claim_planned_while_no_task_ran_does_not_read_every_running_task(
    conn: Conn, worker_id: UUID
) -> None:
    # Statistics that saw no RUNNING task make both partial indexes of RUNNING tasks look
    # empty; the rescue's question "has a lease run out?" once scanned tasks_running_by_worker
    # and read every RUNNING task at every claim.
    conn.execute("SELECT taskq.set_concurrency('plans', NULL)")
    plan_on_empty_tables(conn, worker_id, "plans")
    fill(conn, "plans")
    assert len(claim(conn, worker_id, queues=["plans"], batch_size=TASKS - BATCH)) == TASKS - BATCH
    with conn.transaction():
        before = entries_read(conn, "tasks_running_by_worker")
        leases_before = entries_read(conn, "tasks_leases")
        taken = claim(conn, worker_id, queues=["plans"], batch_size=BATCH)
        read = entries_read(conn, "tasks_running_by_worker") - before
        leases_read = entries_read(conn, "tasks_leases") - leases_before
    assert len(taken) == BATCH
    assert read == 0, read
    # the probe reads the lease that runs out first, and stops there
    assert leases_read <= 1, leases_read
    # and a lease that ran out is still found and rescued: all of them, by the same plans
    assert one(conn, "SELECT taskq._rescue_expired(now() + interval '1 hour')") == TASKS
