"""claim_next reads the claimable index in order; it never sorts the backlog (claim_index_order)."""

from __future__ import annotations

from uuid import UUID

import pytest

from tests.sql.conftest import Conn, claim, one

QUEUED = 2_000
FINISHED = 20_000

# the candidate query of claim_next, as the planner sees it: a LIMIT that comes from a join
# (two rows, so that the planner cannot fold it into a constant)
CANDIDATE = """
EXPLAIN SELECT t.id
FROM (SELECT 'many'::text AS queue, 1::bigint AS free UNION ALL SELECT 'other', 1) c
CROSS JOIN LATERAL (
    SELECT t.id FROM taskq.tasks t
    WHERE t.queue = c.queue AND t.status = 'QUEUED' AND t.scheduled_at <= now()
    ORDER BY t.priority DESC, t.scheduled_at, t.id
    LIMIT c.free
    FOR UPDATE SKIP LOCKED
) t
"""


def index_scans(conn: Conn) -> dict[str, int]:
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # the flush happens when this session goes idle
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(
        "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes"
        " WHERE indexrelname = 'tasks_claimable'"
    ).fetchall()
    return {str(name): int(scans) for name, scans in rows}


def test_claim_next_carries_the_settings(conn: Conn) -> None:
    config = one(
        conn,
        "SELECT proconfig FROM pg_proc"
        " WHERE oid = 'taskq.claim_next(uuid, text[], text[], interval, integer)'::regprocedure",
    )
    assert "enable_sort=off" in config
    assert "jit=off" in config
    assert "plan_cache_mode=force_generic_plan" in config
    assert "enable_seqscan=off" in config
    assert "enable_hashjoin=off" in config
    assert "search_path=taskq, pg_temp" in config


def test_a_claim_beside_many_finished_tasks_reads_the_claimable_index(
    conn: Conn, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('many', NULL)")
    # A history: finished tasks first, then the backlog, 1 ms apart. Inserted directly, for speed.
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name, status, attempts, created_at, scheduled_at,"
        " started_at, finished_at)"
        " SELECT 'many', 'old', 'COMPLETED', 1, now() - (%(all)s - n) * interval '1 ms',"
        " now() - (%(all)s - n) * interval '1 ms', now(), now()"
        " FROM generate_series(1, %(finished)s) n",
        {"all": FINISHED + QUEUED, "finished": FINISHED},
    )
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name, created_at, scheduled_at)"
        " SELECT 'many', 'new', now() - (%(queued)s - n) * interval '1 ms',"
        " now() - (%(queued)s - n) * interval '1 ms'"
        " FROM generate_series(1, %(queued)s) n",
        {"queued": QUEUED},
    )
    conn.execute("VACUUM ANALYZE taskq.tasks")
    # Costly random reads make the planner prefer reading the whole table and sorting the due
    # tasks: the plan the settings rule out inside claim_next. (With tasks_scheduled, which held
    # every QUEUED task, the tempting plan read every due task through it and sorted them;
    # tasks_scheduled_later holds none of these tasks, nor can a query for due tasks read it.)
    # The cost at which the planner turns to it differs between versions: the first that does.
    for cost in (40, 100, 400, 4000):
        conn.execute(f"SET random_page_cost = {cost}")
        plan = "\n".join(str(row[0]) for row in conn.execute(CANDIDATE).fetchall())
        if "Sort" in plan:
            break
    assert "Sort" in plan, plan

    before = index_scans(conn)
    [task] = claim(conn, worker_id, queues=["many"])
    after = index_scans(conn)

    oldest = one(
        conn,
        "SELECT id FROM taskq.tasks WHERE name = 'new' ORDER BY scheduled_at, id LIMIT 1",
    )
    assert task["id"] == oldest
    assert after["tasks_claimable"] == before["tasks_claimable"] + 1


def index_reads(conn: Conn) -> dict[str, int]:
    """Index entries read so far, per claimable index."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # the flush happens when this session goes idle
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(
        "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes"
        " WHERE indexrelname IN ('tasks_claimable', 'tasks_claimable_by_name')"
    ).fetchall()
    return {str(name): int(read) for name, read in rows}


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed", "no-statistics"])
def test_a_claim_of_names_the_queue_lacks_reads_no_backlog_when_one_name_fills_the_table(
    conn: Conn, worker_id: UUID, analyzed: bool
) -> None:
    # One application's tasks: a single name in the table, so ANALYZE counts one distinct name
    # (or has not run yet). A worker also handles the built-ins, which the queue does not hold.
    conn.execute("SELECT taskq.set_concurrency('one', NULL)")
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name) SELECT 'one', 'only' FROM generate_series(1, %s)",
        (QUEUED * 5,),
    )
    if analyzed:
        conn.execute("VACUUM ANALYZE taskq.tasks")
    before = index_reads(conn)
    tasks = claim(
        conn, worker_id, queues=["one"], names=["only", "echo", "sleep", "fail"], batch_size=10
    )
    after = index_reads(conn)
    assert len(tasks) == 10
    assert after["tasks_claimable"] == before["tasks_claimable"]
    # the ten claimed and the next entry of each index search, not the backlog of 10,000
    assert after["tasks_claimable_by_name"] - before["tasks_claimable_by_name"] < 100
