"""taskq:scheduled_later: tasks_scheduled_later holds the QUEUED tasks scheduled after their
creation, the only ones taskq.next_due can answer; a task enqueued for now takes no entry."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from taskq import migrate
from tests.sql.conftest import Conn, claim, enqueue, one


def held(conn: Conn) -> int:
    """The tasks tasks_scheduled_later holds: those its predicate admits."""
    return int(
        one(
            conn,
            "SELECT count(*) FROM taskq.tasks"
            " WHERE status = 'QUEUED' AND scheduled_at > created_at",
        )
    )


def statistics(conn: Conn, sql: str) -> tuple[int, int]:
    """Two counters of the cumulative statistics, as this session has flushed them so far."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # the flush happens when this session goes idle
    conn.execute("SELECT pg_stat_clear_snapshot()")
    first, second = conn.execute(sql).fetchone() or (0, 0)
    return int(first), int(second)


def index_use(conn: Conn) -> tuple[int, int]:
    """Scans of tasks_scheduled_later so far, and the entries they read."""
    return statistics(
        conn,
        "SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes"
        " WHERE indexrelname = 'tasks_scheduled_later'",
    )


def table_reads(conn: Conn) -> tuple[int, int]:
    """Rows of taskq.tasks read so far by sequential scans, and fetched by index scans."""
    return statistics(
        conn,
        "SELECT coalesce(seq_tup_read, 0), coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
        " WHERE relid = 'taskq.tasks'::regclass",
    )


def test_only_tasks_due_after_their_creation_take_an_entry(conn: Conn, worker_id: UUID) -> None:
    enqueue(conn, queue="now")
    enqueue(conn, queue="now", scheduled_at=None)
    conn.execute("SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "json", "queue": "now"}] * 3),))
    conn.execute(
        "SELECT taskq.enqueue_many(names => ARRAY['a', 'b'], payloads => NULL,"
        " queues => ARRAY['now', 'now'])"
    )
    assert held(conn) == 0
    assert one(conn, "SELECT taskq.next_due()") is None

    at = one(conn, "SELECT date_trunc('second', now()) + interval '1 hour'")
    enqueue(conn, queue="later", scheduled_at=at)
    assert held(conn) == 1
    assert one(conn, "SELECT taskq.next_due()") == at

    # a failed attempt goes back to the queue after its backoff: scheduled after its creation
    [task] = claim(conn, worker_id, queues=["now"])
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (task["id"], task["lease_token"]))
    retry_at = one(conn, "SELECT scheduled_at FROM taskq.tasks WHERE id = %s", (task["id"],))
    assert isinstance(retry_at, datetime)
    assert held(conn) == 2
    assert one(conn, "SELECT taskq.next_due(ARRAY['now'])") == retry_at
    assert one(conn, "SELECT taskq.next_due()") == min(at, retry_at)

    # claimed when due, it leaves the index
    conn.execute(
        "UPDATE taskq.tasks SET scheduled_at = created_at + interval '1 us' WHERE id = %s",
        (task["id"],),
    )
    [again] = claim(conn, worker_id, queues=["now"], names=[task["name"]])
    assert again["id"] == task["id"]
    assert held(conn) == 1


def test_next_due_reads_tasks_scheduled_later_not_the_due_backlog(conn: Conn) -> None:
    conn.execute(
        "SELECT taskq.enqueue_many(names => array_fill('due'::text, ARRAY[5000]), payloads => NULL,"
        " queues => array_fill('busy'::text, ARRAY[5000]))"
    )
    at = one(conn, "SELECT date_trunc('second', now()) + interval '1 day'")
    enqueue(conn, queue="busy", scheduled_at=at)
    conn.execute("VACUUM ANALYZE taskq.tasks")
    before = index_use(conn)
    assert one(conn, "SELECT taskq.next_due(ARRAY['busy'])") == at
    assert one(conn, "SELECT taskq.next_due()") == at
    after = index_use(conn)
    assert after[0] - before[0] == 2
    assert after[1] - before[1] <= 2  # the one scheduled task each time, none of the 5,000


def test_next_due_reads_no_due_task_of_a_queue_without_a_rate(database_url: str) -> None:
    # 5,000 due tasks, counted by ANALYZE, beside a rate-limited queue with tokens to spend:
    # the plan a new session made for next_due's statement with an EXISTS read every due task
    # for its rate-limit part, 3 ms a call
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "SELECT taskq.enqueue_many(names => array_fill('due'::text, ARRAY[5000]),"
            " payloads => NULL, queues => array_fill('busy'::text, ARRAY[5000]))"
        )
        conn.execute("SELECT taskq.set_rate_limit('rated', 1, interval '1 hour')")
        conn.execute("VACUUM ANALYZE taskq.tasks")
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = table_reads(conn)
        for _ in range(8):  # past the calls a session plans for their arguments
            assert one(conn, "SELECT taskq.next_due(ARRAY['busy', 'rated'])") is None
            assert one(conn, "SELECT taskq.next_due()") is None
        after = table_reads(conn)
    assert after[0] == before[0]  # no sequential scan of taskq.tasks
    assert after[1] - before[1] <= 16  # rows fetched by index scans: none of the 5,000


def test_next_due_reads_one_due_task_of_a_rate_limited_queue_and_none_of_the_others(
    database_url: str,
) -> None:
    # the same beside queues whose buckets are empty: a LATERAL without the index's order ran
    # as a scan of the table that stopped at the queue's first due task, after the 5,000
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "SELECT taskq.enqueue_many(names => array_fill('due'::text, ARRAY[5000]),"
            " payloads => NULL, queues => array_fill('busy'::text, ARRAY[5000]))"
        )
        # two queues whose buckets are empty: one with a due task (next_due answers its next
        # token), one with a task due only later (its token is no answer)
        for queue in ("rated", "spent"):
            conn.execute("SELECT taskq.set_rate_limit(%s, 1, interval '1 hour')", (queue,))
        enqueue(conn, queue="rated")
        later = one(conn, "SELECT date_trunc('second', now()) + interval '2 hours'")
        enqueue(conn, queue="spent", scheduled_at=later)
        refilled = one(conn, "SELECT date_trunc('second', now())")
        conn.execute(
            "UPDATE taskq.queues SET tokens = 0, refilled_at = %s WHERE name IN ('rated', 'spent')",
            (refilled,),
        )
        conn.execute("VACUUM ANALYZE taskq.tasks")
    token = refilled + timedelta(hours=1)
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = table_reads(conn)
        for _ in range(8):  # past the calls a session plans for their arguments
            assert one(conn, "SELECT taskq.next_due(ARRAY['busy', 'rated'])") == token
            assert one(conn, "SELECT taskq.next_due(ARRAY['busy', 'spent'])") == later
            assert one(conn, "SELECT taskq.next_due(ARRAY['busy'])") is None
            assert one(conn, "SELECT taskq.next_due()") == token
        after = table_reads(conn)
    assert after[0] == before[0]  # no sequential scan of taskq.tasks
    # rows fetched by index scans: the due task of 'rated' and the later one of 'spent' at most,
    # none of the 5,000
    assert after[1] - before[1] <= 8 * 4 * 2


def test_revert_builds_tasks_scheduled_again(empty_database_url: str) -> None:
    migrate.deploy(empty_database_url)
    migrate.sqitch("revert", empty_database_url, "-y", "--to", "scheduled_later^")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert one(
            conn,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'taskq.tasks_scheduled'::regclass",
        )
        assert one(conn, "SELECT to_regclass('taskq.tasks_scheduled_later')") is None
        at = datetime.now().astimezone() + timedelta(hours=1)
        enqueue(conn, scheduled_at=at)
        assert one(conn, "SELECT taskq.next_due()") == at
    migrate.sqitch("deploy", empty_database_url, "--verify")
