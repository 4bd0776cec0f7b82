"""Retention: set_retention, prune, and maintain (dead workers, one maintenance at a time)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate

DEADLINE = 30.0


def finished(
    conn: Conn, status: str, age: timedelta, queue: str = "default", n: int = 1
) -> list[UUID]:
    """n tasks of the queue that ended with status age ago (the table written directly)."""
    ids = [enqueue(conn, queue=queue) for _ in range(n)]
    conn.execute(
        "UPDATE taskq.tasks SET status = %s, finished_at = clock_timestamp() - %s"
        " WHERE id = ANY (%s)",
        (status, age, ids),
    )
    return ids


def prune(conn: Conn, batch: int = 10000) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT completed, failed, cancelled FROM taskq.prune(batch => %s)", (batch,)
    ).fetchone()
    assert row is not None
    return (row[0], row[1], row[2])


def existing(conn: Conn, ids: list[UUID]) -> set[UUID]:
    rows = conn.execute("SELECT id FROM taskq.tasks WHERE id = ANY (%s)", (ids,)).fetchall()
    return {r[0] for r in rows}


def test_tasks_past_the_default_retention_go_the_others_stay(conn: Conn, worker_id: UUID) -> None:
    day = timedelta(days=1)
    old_completed = finished(conn, "COMPLETED", 8 * day)
    young_completed = finished(conn, "COMPLETED", 6 * day)
    old_failed = finished(conn, "FAILED", 31 * day)
    young_failed = finished(conn, "FAILED", 29 * day)
    old_cancelled = finished(conn, "CANCELLED", 31 * day)
    young_cancelled = finished(conn, "CANCELLED", 29 * day)
    # live tasks, old ones too: queued, scheduled, paused, running
    queued = enqueue(conn)
    scheduled = enqueue(conn, scheduled_at="2100-01-01T00:00:00Z")
    paused = enqueue(conn)
    conn.execute("SELECT taskq.pause(%s)", (paused,))
    running = enqueue(conn)
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    claimed = claim(conn, worker_id, batch_size=10)
    assert {r["id"] for r in claimed} == {queued, running}
    live = [queued, scheduled, paused, running]
    conn.execute(
        "UPDATE taskq.tasks SET finished_at = clock_timestamp() - interval '1000 days',"
        " created_at = clock_timestamp() - interval '1000 days' WHERE id = ANY (%s)",
        (live,),
    )
    assert prune(conn) == (1, 1, 1)
    kept = young_completed + young_failed + young_cancelled + live
    assert existing(conn, kept) == set(kept)
    assert existing(conn, old_completed + old_failed + old_cancelled) == set()
    assert prune(conn) == (0, 0, 0)


def test_set_retention_per_queue_and_keep_for_ever(conn: Conn) -> None:
    row = conn.execute(
        "SELECT name, retain_completed, retain_failed, retain_cancelled"
        " FROM taskq.set_retention('short', completed => '1 hour', failed => NULL)"
    ).fetchone()
    # created with the defaults, then changed: cancelled left out keeps its default
    assert row == ("short", timedelta(hours=1), None, timedelta(days=30))
    view = conn.execute(
        "SELECT completed, failed, cancelled FROM taskq.queue_retention WHERE queue = 'short'"
    ).fetchone()
    assert view == (timedelta(hours=1), None, timedelta(days=30))
    gone = finished(conn, "COMPLETED", timedelta(hours=2), queue="short")
    forever = finished(conn, "FAILED", timedelta(days=10000), queue="short")
    other = finished(conn, "COMPLETED", timedelta(hours=2), queue="default")
    assert prune(conn) == (1, 0, 0)
    assert existing(conn, gone + forever + other) == set(forever + other)
    # one argument changes only itself
    conn.execute("SELECT taskq.set_retention('short', cancelled => '0 seconds')")
    assert conn.execute(
        "SELECT completed, failed, cancelled FROM taskq.queue_retention WHERE queue = 'short'"
    ).fetchone() == (timedelta(hours=1), None, timedelta(0))
    conn.execute("SELECT taskq.set_retention('short', failed => '1 day')")
    assert prune(conn) == (0, 1, 0)
    # a queue that exists keeps its concurrency
    conn.execute("SELECT taskq.set_concurrency('short', 5)")
    conn.execute("SELECT taskq.set_retention('short', completed => NULL)")
    assert one(conn, "SELECT concurrency FROM taskq.queues WHERE name = 'short'") == 5


@pytest.mark.parametrize(
    ("arguments", "sqlstate", "column"),
    [
        ("'q', completed => '-1 second'", "22023", "completed"),
        ("'q', failed => '101 years'", "22023", "failed"),
        ("'q', cancelled => '-178000000 years 1 month'", "22023", "cancelled"),
        ("'q', completed => '1000000 years'", "22023", "completed"),
        ("NULL, completed => '1 day'", "22004", "queue"),
        ("'  ', completed => '1 day'", "22023", "queue"),
    ],
)
def test_set_retention_refuses_bad_values(
    conn: Conn, arguments: str, sqlstate: str, column: str
) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(f"SELECT taskq.set_retention({arguments})")
    assert info.value.sqlstate == sqlstate, info.value
    assert info.value.diag.column_name == column
    assert one(conn, "SELECT count(*) FROM taskq.queues WHERE name = 'q'") == 0


def test_set_retention_refuses_an_infinite_one(conn: Conn) -> None:
    if one(conn, "SELECT current_setting('server_version_num')::int") < 170000:
        pytest.skip("intervals are finite before PostgreSQL 17")
    with raises_sqlstate("22023", "must be finite"):
        conn.execute("SELECT taskq.set_retention('q', completed => 'infinity')")


@pytest.mark.parametrize("batch", [0, -1, 1000001, None])
def test_prune_refuses_a_bad_batch(conn: Conn, batch: int | None) -> None:
    with raises_sqlstate("22023", "batch"):
        conn.execute("SELECT taskq.prune(%s)", (batch,))
    with raises_sqlstate("22023", "batch"):
        conn.execute("SELECT taskq.maintain(%s)", (batch,))


def test_prune_removes_at_most_a_batch_oldest_first(conn: Conn) -> None:
    old = finished(conn, "COMPLETED", timedelta(days=20), n=3)
    older = finished(conn, "COMPLETED", timedelta(days=30), n=3)
    assert prune(conn, batch=4) == (4, 0, 0)
    assert existing(conn, older) == set()
    assert len(existing(conn, old)) == 2
    assert prune(conn, batch=4) == (2, 0, 0)


def test_a_retried_task_is_live_again_and_stays(conn: Conn) -> None:
    (task_id,) = finished(conn, "FAILED", timedelta(days=40))
    conn.execute("SELECT taskq.retry(%s)", (task_id,))
    assert prune(conn) == (0, 0, 0)
    assert existing(conn, [task_id]) == {task_id}


def test_prune_reads_the_finished_index(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name, status, finished_at)"
        " SELECT 'default', 'job', 'COMPLETED', clock_timestamp() FROM generate_series(1, 5000)"
    )
    conn.execute("ANALYZE taskq.tasks")
    with conn.transaction():
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT t.id FROM taskq.tasks t WHERE t.queue = 'default'"
                " AND t.status = 'COMPLETED' AND t.status >= 'COMPLETED'"
                " AND t.finished_at < now() - interval '7 days' ORDER BY t.finished_at LIMIT 10"
            ).fetchall()
        )
    assert "tasks_finished" in plan, plan
    assert prune(conn) == (0, 0, 0)


def test_prune_beside_claimers_and_another_prune(conn: Conn, database_url: str) -> None:
    """8 claimers drain a queue of zero retention while two prunes run in loops: nothing errs
    or deadlocks, no live task goes, and what the prunes removed is every task completed."""
    total = 600
    conn.execute("SELECT taskq.set_concurrency('churn', NULL)")
    conn.execute("SELECT taskq.set_retention('churn', completed => '0 seconds')")
    conn.execute(
        "SELECT taskq.enqueue_many(array_fill('job'::text, ARRAY[%s]), NULL,"
        " array_fill('churn'::text, ARRAY[%s]))",
        (total, total),
    )
    # live tasks of the same queue that no one claims: paused and scheduled
    paused = [enqueue(conn, queue="churn", scheduled_at="2100-01-01T00:00:00Z") for _ in range(20)]
    for task_id in paused[:10]:
        conn.execute("SELECT taskq.pause(%s)", (task_id,))
    stop = threading.Event()
    errors: list[BaseException] = []
    completed: Counter[str] = Counter()
    removed: Counter[int] = Counter()
    lock = threading.Lock()

    def claimer(index: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                worker = one(c, "SELECT taskq.register_worker(%s)", (f"claimer-{index}",))
                while not stop.is_set():
                    rows = claim(c, worker, queues=["churn"], batch_size=5)
                    if not rows:
                        time.sleep(0.005)
                        continue
                    for r in rows:
                        c.execute("SELECT taskq.complete(%s, %s)", (r["id"], r["lease_token"]))
                    with lock:
                        completed["n"] += len(rows)
        except BaseException as error:
            errors.append(error)
            stop.set()

    def pruner(index: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                while not stop.is_set():
                    n = sum(prune(c, batch=7))
                    with lock:
                        removed[index] += n
        except BaseException as error:
            errors.append(error)
            stop.set()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(8)]
    threads += [threading.Thread(target=pruner, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE and not stop.is_set():
        with lock:
            if completed["n"] >= total and removed[0] + removed[1] >= total:
                break
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert completed["n"] == total
    assert removed[0] + removed[1] == total
    assert existing(conn, paused) == set(paused)
    assert one(conn, "SELECT count(*) FROM taskq.tasks WHERE queue = 'churn'") == len(paused)


def register(conn: Conn, name: str) -> UUID:
    value = one(conn, "SELECT taskq.register_worker(%s)", (name,))
    assert isinstance(value, UUID)
    return value


def age_worker(conn: Conn, worker: UUID, age: timedelta) -> None:
    conn.execute(
        "UPDATE taskq.workers SET heartbeat_at = clock_timestamp() - %s WHERE id = %s",
        (age, worker),
    )


def maintain(conn: Conn) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM taskq.maintain()")
    names = [d.name for d in cur.description or []]
    row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def test_dead_workers_go_their_tasks_are_rescued_live_ones_stay(conn: Conn) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    dead = register(conn, "dead")
    live = register(conn, "live")
    slow = register(conn, "slow")  # a long lease: it beats rarely, and is alive
    for _ in range(4):
        enqueue(conn, max_attempts=2)
    # the dead worker's tasks: one with an attempt left, one on its last attempt, one whose
    # cancellation was asked; their leases ended with its last beats
    dead_tasks = claim(conn, dead, batch_size=3)
    retry, last, cancel = (r["id"] for r in dead_tasks)
    # a worker that claimed with a long lease and never beats is alive while the lease runs
    enqueue(conn, queue="long")
    conn.execute("SELECT taskq.set_concurrency('long', NULL)")
    long = register(conn, "long")
    (long_task,) = claim(conn, long, queues=["long"], lease=timedelta(hours=5))
    conn.execute("UPDATE taskq.tasks SET attempts = 2 WHERE id = %s", (last,))
    conn.execute("SELECT taskq.cancel(%s)", (cancel,))
    (live_task,) = claim(conn, live, batch_size=1)
    conn.execute("SELECT taskq.heartbeat(%s, '1 hour')", (slow,))
    age_worker(conn, dead, timedelta(minutes=6))
    conn.execute(
        "UPDATE taskq.tasks SET lease_expires_at = clock_timestamp() - interval '5 minutes'"
        " WHERE worker_id = %s",
        (dead,),
    )
    age_worker(conn, live, timedelta(minutes=4))
    age_worker(conn, slow, timedelta(minutes=90))  # 90 min < 10 x 1 hour
    age_worker(conn, long, timedelta(minutes=6))
    done = maintain(conn)
    assert (done["ran"], done["workers_removed"], done["tasks_rescued"]) == (True, 1, 3)
    workers = {r[0] for r in conn.execute("SELECT id FROM taskq.workers").fetchall()}
    assert workers == {live, slow, long}
    assert (
        one(conn, "SELECT status::text FROM taskq.tasks WHERE id = %s", (long_task["id"],))
        == "RUNNING"
    )
    statuses = dict(
        conn.execute(
            "SELECT id, status::text FROM taskq.tasks WHERE id = ANY (%s)", ([retry, last, cancel],)
        ).fetchall()
    )
    assert statuses == {retry: "QUEUED", last: "FAILED", cancel: "CANCELLED"}
    assert "stopped heartbeating" in one(
        conn, "SELECT last_error FROM taskq.tasks WHERE id = %s", (retry,)
    )
    assert (
        one(conn, "SELECT status::text FROM taskq.tasks WHERE id = %s", (live_task["id"],))
        == "RUNNING"
    )
    # once its lease ended, the long claimer is dead: removed, its task rescued
    conn.execute(
        "UPDATE taskq.tasks SET lease_expires_at = clock_timestamp() - interval '1 second'"
        " WHERE id = %s",
        (long_task["id"],),
    )
    done = maintain(conn)
    assert (done["workers_removed"], done["tasks_rescued"]) == (1, 1)
    # a worker that never beat counts with the default lease, 30 s: dead after 5 minutes
    # (its task's lease ended too)
    conn.execute(
        "UPDATE taskq.tasks SET lease_expires_at = clock_timestamp() - interval '1 second'"
        " WHERE id = %s",
        (live_task["id"],),
    )
    age_worker(conn, live, timedelta(minutes=5, seconds=1))
    assert maintain(conn)["workers_removed"] == 1
    assert one(conn, "SELECT count(*) FROM taskq.workers") == 1


def test_a_heartbeating_worker_keeps_its_row_and_tasks(conn: Conn, database_url: str) -> None:
    worker = register(conn, "beating")
    enqueue(conn)
    (held,) = claim(conn, worker, lease=timedelta(seconds=1))
    stop = threading.Event()
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                while not stop.is_set():
                    c.execute("SELECT taskq.heartbeat(%s, '1 second')", (worker,))
                    time.sleep(0.1)
        except BaseException as error:
            errors.append(error)
            stop.set()

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < 3:
            assert maintain(conn)["workers_removed"] == 0
            time.sleep(0.05)
    finally:
        stop.set()
        beater.join(timeout=10)
    assert not errors, errors
    assert one(conn, "SELECT count(*) FROM taskq.workers WHERE id = %s", (worker,)) == 1
    row = conn.execute(
        "SELECT status::text, lease_token FROM taskq.tasks WHERE id = %s", (held["id"],)
    ).fetchone()
    assert row == ("RUNNING", held["lease_token"])


def test_one_maintenance_at_a_time(conn: Conn, database_url: str) -> None:
    finished(conn, "COMPLETED", timedelta(days=8))
    with psycopg.connect(database_url) as other:
        first = other.execute("SELECT ran, completed FROM taskq.maintain()").fetchone()
        assert first == (True, 1)
        # the first one's transaction is open: a second returns at once, doing nothing
        finished(conn, "COMPLETED", timedelta(days=8))
        second = maintain(conn)
        assert (second["ran"], second["completed"], second["more"]) == (False, 0, False)
        other.rollback()
    assert maintain(conn)["completed"] == 2


def test_maintain_says_more_after_a_full_batch(conn: Conn) -> None:
    finished(conn, "CANCELLED", timedelta(days=31), n=3)
    row = conn.execute(
        "SELECT completed, cancelled, more FROM taskq.maintain(batch => 2)"
    ).fetchone()
    assert row == (0, 2, True)
    row = conn.execute("SELECT cancelled, more FROM taskq.maintain(batch => 2)").fetchone()
    assert row == (1, False)


def test_the_readme_examples(conn: Conn) -> None:
    conn.execute("SELECT taskq.set_retention('emails', completed => '1 day')")
    conn.execute(
        "SELECT taskq.set_retention('billing', completed => NULL, failed => NULL,"
        " cancelled => NULL)"
    )
    rows = conn.execute("SELECT * FROM taskq.queue_retention ORDER BY queue").fetchall()
    assert rows == [
        ("billing", None, None, None),
        ("emails", timedelta(days=1), timedelta(days=30), timedelta(days=30)),
    ]


def audit_rows(conn: Conn, action: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT queue, before, after, actor, reason FROM taskq.audit WHERE action = %s ORDER BY id",
        (action,),
    )
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_set_retention_and_prune_are_audited_maintain_is_not(conn: Conn) -> None:
    conn.execute("SELECT taskq.set_retention('mail', completed => '1 day')")
    with conn.transaction():
        conn.execute("SELECT set_config('taskq.actor', 'alice', true)")
        conn.execute(
            "SELECT taskq.set_retention('mail', failed => NULL, reason => 'keep the failures')"
        )
    finished(conn, "COMPLETED", timedelta(days=2), queue="mail")
    assert conn.execute("SELECT ran FROM taskq.maintain()").fetchone() == (True,)
    finished(conn, "COMPLETED", timedelta(days=2), queue="mail", n=2)
    conn.execute("SELECT * FROM taskq.prune(reason => 'disk')")
    rows = audit_rows(conn, "set_retention")
    assert rows == [
        {
            "queue": "mail",
            "before": {"completed": "7 days", "failed": "30 days", "cancelled": "30 days"},
            "after": {"completed": "1 day", "failed": "30 days", "cancelled": "30 days"},
            "actor": None,
            "reason": None,
        },
        {
            "queue": "mail",
            "before": {"completed": "1 day", "failed": "30 days", "cancelled": "30 days"},
            "after": {"completed": "1 day", "failed": None, "cancelled": "30 days"},
            "actor": "alice",
            "reason": "keep the failures",
        },
    ]
    # the maintenance turn pruned the first task without an audit row; the prune, the other two
    assert audit_rows(conn, "prune") == [
        {
            "queue": None,
            "before": None,
            "after": {"completed": 2, "failed": 0, "cancelled": 0, "audit_rows": 0},
            "actor": None,
            "reason": "disk",
        }
    ]


def test_a_refused_set_retention_writes_no_audit_row(conn: Conn) -> None:
    with raises_sqlstate("22023"):
        conn.execute("SELECT taskq.set_retention('mail', completed => '-1 day')")
    with raises_sqlstate("22001"):
        conn.execute("SELECT taskq.set_retention('mail', reason => repeat('x', 1001))")
    assert audit_rows(conn, "set_retention") == []


def test_audit_rows_are_kept_as_long_as_their_queue_keeps_failed_tasks(conn: Conn) -> None:
    for queue in ("short", "forever", "gone"):
        conn.execute("SELECT taskq.pause_queue(%s)", (queue,))
    conn.execute("SELECT taskq.set_retention('short', failed => '1 day')")
    conn.execute("SELECT taskq.set_retention('forever', failed => NULL)")
    conn.execute("SELECT taskq.prune(reason => 'a row of no queue')")
    conn.execute("DELETE FROM taskq.queues WHERE name = 'gone'")

    def age(queue: str | None, days: int) -> None:
        conn.execute(
            "UPDATE taskq.audit_log SET at = clock_timestamp() - make_interval(days => %s)"
            " WHERE queue IS NOT DISTINCT FROM %s",
            (days, queue),
        )

    def left() -> Counter[str | None]:
        return Counter(r[0] for r in conn.execute("SELECT queue FROM taskq.audit_log"))

    age("short", 2)
    age("forever", 10_000)
    age("gone", 29)
    age(None, 29)
    before = left()
    assert conn.execute("SELECT audit_rows FROM taskq.prune()").fetchone() == (2,)
    # the short queue's two rows went; the prune just made adds one row of no queue
    after = left()
    assert after["short"] == 0
    assert after["forever"] == before["forever"] == 2
    assert after["gone"] == before["gone"] == 1
    assert after[None] == before[None] + 1
    # past 30 days, rows of no queue and of a queue without a row go too
    age("gone", 31)
    age(None, 31)
    done = conn.execute("SELECT audit_rows, more FROM taskq.maintain(batch => 2)").fetchone()
    assert done == (2, True)
    assert conn.execute("SELECT audit_rows, more FROM taskq.maintain()").fetchone() == (1, False)
    assert left() == Counter({"forever": 2})
