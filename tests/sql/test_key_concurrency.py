"""Per-key concurrency: set_key_concurrency, the claim's key places, every way a place is freed,
no head-of-line blocking, and exactness under concurrent claimers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

CLAIMERS = 8
DEADLINE = 60.0


def keyed(conn: Conn, key: str | None, queue: str = "default", **kwargs: Any) -> UUID:
    """A task of ``key`` (the column set on the owner's connection, as enqueue does not yet)."""
    task_id = enqueue(conn, queue=queue, **kwargs)
    conn.execute("UPDATE taskq.tasks SET concurrency_key = %s WHERE id = %s", (key, task_id))
    return task_id


def keys_of(conn: Conn, rows: list[dict[str, Any]]) -> list[str | None]:
    return [task(conn, row["id"])["concurrency_key"] for row in rows]


@pytest.fixture
def limited(conn: Conn) -> Conn:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_key_concurrency('default', 1)")
    return conn


def test_set_key_concurrency_shows_and_audits(conn: Conn) -> None:
    row = conn.execute(
        "SELECT name, key_limit FROM taskq.set_key_concurrency('tenants', 3, reason => 'fair')"
    ).fetchone()
    assert row == ("tenants", 3)
    stats = one(conn, "SELECT key_concurrency FROM taskq.queue_stats WHERE queue = 'tenants'")
    assert stats == 3
    conn.execute("SELECT taskq.set_key_concurrency('tenants', NULL)")
    audit = conn.execute(
        "SELECT action, queue, before, after, reason FROM taskq.audit"
        " WHERE action = 'set_key_concurrency' ORDER BY id"
    ).fetchall()
    assert audit == [
        (
            "set_key_concurrency",
            "tenants",
            {"key_concurrency": None},
            {"key_concurrency": 3},
            "fair",
        ),
        ("set_key_concurrency", "tenants", {"key_concurrency": 3}, {"key_concurrency": None}, None),
    ]


@pytest.mark.parametrize("bad", [0, -1, 10001])
def test_bad_key_limit(conn: Conn, bad: int) -> None:
    with raises_sqlstate("22023", "key_limit must be between 1 and 10000"):
        conn.execute("SELECT taskq.set_key_concurrency('default', %s)", (bad,))
    assert one(conn, "SELECT count(*) FROM taskq.audit WHERE action = 'set_key_concurrency'") == 0


def test_bad_queue_and_reason(conn: Conn) -> None:
    with raises_sqlstate("22023"):
        conn.execute("SELECT taskq.set_key_concurrency('', 1)")
    with raises_sqlstate("22001"):
        conn.execute("SELECT taskq.set_key_concurrency('default', 1, reason => repeat('x', 1001))")


def test_at_most_the_limit_of_a_key_and_tasks_without_a_key_unlimited(
    limited: Conn, worker_id: UUID
) -> None:
    conn = limited
    conn.execute("SELECT taskq.set_key_concurrency('default', 2)")
    for _ in range(5):
        keyed(conn, "a")
    for _ in range(3):
        keyed(conn, None)
    rows = claim(conn, worker_id, batch_size=20)
    assert Counter(keys_of(conn, rows)) == Counter({"a": 2, None: 3})
    assert claim(conn, worker_id, batch_size=20) == []


def test_no_head_of_line_blocking(limited: Conn, worker_id: UUID) -> None:
    """Thousands of tasks of a full key ahead of the others do not hold them up."""
    conn = limited
    first = keyed(conn, "big")
    assert [r["id"] for r in claim(conn, worker_id)] == [first]
    conn.execute("SELECT taskq.enqueue('job') FROM generate_series(1, 3000)")
    conn.execute("UPDATE taskq.tasks SET concurrency_key = 'big' WHERE concurrency_key IS NULL")
    others = [keyed(conn, f"k{i}") for i in range(3)] + [keyed(conn, None)]
    rows = claim(conn, worker_id, batch_size=10)
    assert sorted(r["id"] for r in rows) == sorted(others)


def test_a_batch_of_one_key_after_another_fills_up(limited: Conn, worker_id: UUID) -> None:
    """Tasks enqueued key by key: the claim draws again past a key whose room is used up."""
    conn = limited
    for key in ("a", "b", "c", "d"):
        for _ in range(5):
            keyed(conn, key)
    rows = claim(conn, worker_id, batch_size=10)
    assert sorted(str(k) for k in keys_of(conn, rows)) == ["a", "b", "c", "d"]
    assert claim(conn, worker_id, batch_size=10) == []


def test_the_claim_by_names_keeps_the_limit(limited: Conn, worker_id: UUID) -> None:
    conn = limited
    for _ in range(3):
        keyed(conn, "a")
    rows = claim(conn, worker_id, names=["job"], batch_size=5)
    assert len(rows) == 1
    assert claim(conn, worker_id, names=["job"], batch_size=5) == []


def finish_complete(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))


def finish_fail_retry(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute(
        "SELECT taskq.fail(%s, %s, 'boom', retry_delay => '1 hour')",
        (row["id"], row["lease_token"]),
    )


def finish_fail_final(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute("UPDATE taskq.tasks SET max_attempts = 1 WHERE id = %s", (row["id"],))
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (row["id"], row["lease_token"]))
    assert task(conn, row["id"])["status"] == "FAILED"


def finish_complete_many(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute(
        "SELECT taskq.complete_many(ARRAY[%s]::uuid[], ARRAY[%s]::uuid[])",
        (row["id"], row["lease_token"]),
    )


def finish_complete_many_json(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute(
        "SELECT taskq.complete_many(jsonb_build_array("
        "jsonb_build_object('task_id', %s::text, 'lease_token', %s::text)))",
        (row["id"], row["lease_token"]),
    )


def finish_fail_many(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute(
        "SELECT taskq.fail_many(ARRAY[%s]::uuid[], ARRAY[%s]::uuid[], ARRAY['boom'],"
        " ARRAY['1 hour'::interval])",
        (row["id"], row["lease_token"]),
    )


def finish_rescue(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute(
        "UPDATE taskq.tasks SET scheduled_at = now() + interval '1 hour' WHERE queue = 'default'"
    )
    conn.execute("SELECT taskq._rescue_expired(now() + interval '1 day')")
    assert task(conn, row["id"])["status"] == "QUEUED"
    conn.execute(
        "UPDATE taskq.tasks SET scheduled_at = now() - interval '1 hour' WHERE id <> %s",
        (row["id"],),
    )
    conn.execute(
        "UPDATE taskq.tasks SET scheduled_at = now() + interval '1 hour' WHERE id = %s",
        (row["id"],),
    )


def finish_maintain(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute(
        "UPDATE taskq.tasks SET lease_expires_at = now() - interval '1 minute' WHERE id = %s",
        (row["id"],),
    )
    conn.execute("UPDATE taskq.tasks SET max_attempts = 1 WHERE id = %s", (row["id"],))
    conn.execute("SELECT taskq.maintain()")
    assert task(conn, row["id"])["status"] == "FAILED"


def finish_unregister(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute("UPDATE taskq.tasks SET cancel_requested = true WHERE id = %s", (row["id"],))
    assert one(conn, "SELECT taskq.unregister_worker(%s)", (worker_id,)) == 1
    assert task(conn, row["id"])["status"] == "CANCELLED"


def finish_cancel(conn: Conn, row: dict[str, Any], worker_id: UUID) -> None:
    conn.execute("SELECT taskq.cancel(%s)", (row["id"],))
    assert task(conn, row["id"])["status"] == "RUNNING"  # asked; the worker stops it
    conn.execute("SELECT taskq.fail(%s, %s, 'cancelled')", (row["id"], row["lease_token"]))
    assert task(conn, row["id"])["status"] == "CANCELLED"


@pytest.mark.parametrize(
    "finish",
    [
        finish_complete,
        finish_fail_retry,
        finish_fail_final,
        finish_complete_many,
        finish_complete_many_json,
        finish_fail_many,
        finish_rescue,
        finish_maintain,
        finish_unregister,
        finish_cancel,
    ],
)
def test_every_end_of_a_run_frees_the_key(limited: Conn, worker_id: UUID, finish: Any) -> None:
    conn = limited
    first, second = keyed(conn, "a"), keyed(conn, "a")
    rows = claim(conn, worker_id, batch_size=5)
    assert [r["id"] for r in rows] == [first]
    assert claim(conn, worker_id, batch_size=5) == []
    finish(conn, rows[0], worker_id)
    worker = one(conn, "SELECT taskq.register_worker('second')")
    assert [r["id"] for r in claim(conn, worker, batch_size=5)] == [second]


def test_lowering_never_interrupts_raising_takes_more(limited: Conn, worker_id: UUID) -> None:
    conn = limited
    conn.execute("SELECT taskq.set_key_concurrency('default', 3)")
    for _ in range(6):
        keyed(conn, "a")
    held = claim(conn, worker_id, batch_size=6)
    assert len(held) == 3
    conn.execute("SELECT taskq.set_key_concurrency('default', 1)")
    assert one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'RUNNING'") == 3
    for row in held[:2]:
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
        assert claim(conn, worker_id) == []  # 2, then 1 running: not fewer than 1
    conn.execute("SELECT taskq.complete(%s, %s)", (held[2]["id"], held[2]["lease_token"]))
    assert len(claim(conn, worker_id, batch_size=6)) == 1
    conn.execute("SELECT taskq.set_key_concurrency('default', 2)")
    assert len(claim(conn, worker_id, batch_size=6)) == 1
    conn.execute("SELECT taskq.set_key_concurrency('default', NULL)")
    assert len(claim(conn, worker_id, batch_size=6)) == 1  # the last one; no key limit now


def test_the_slots_still_hold(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_key_concurrency('default', 5)")  # the queue keeps its 2 slots
    for key in ("a", "b", "c"):
        keyed(conn, key)
    assert len(claim(conn, worker_id, batch_size=5)) == 2


def test_a_claim_skips_a_key_another_claim_holds(
    limited: Conn, database_url: str, worker_id: UUID
) -> None:
    """A claim that has not committed holds its key: a second claim skips it without waiting."""
    conn = limited
    keyed(conn, "a")
    keyed(conn, "a")
    other = keyed(conn, "b")
    with psycopg.connect(database_url) as first:
        assert len(claim(first, worker_id)) == 1  # open transaction: holds key a
        with psycopg.connect(database_url, autocommit=True) as second:
            second.execute("SET lock_timeout = '2s'")
            began = time.monotonic()
            assert [r["id"] for r in claim(second, worker_id, batch_size=5)] == [other]
            assert time.monotonic() - began < 2
        first.rollback()


def test_exact_under_concurrent_claimers(database_url: str, conn: Conn) -> None:
    """8 claimers drain 20 keys with key limit 2; a sampler on another connection reads the
    committed RUNNING tasks per key: never more than 2 of one key, and the limit is reached."""
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_key_concurrency('default', 2)")
    keys = [f"k{i}" for i in range(20)]
    conn.execute("SELECT taskq.enqueue('job') FROM generate_series(1, 400)")
    conn.execute(
        "UPDATE taskq.tasks t SET concurrency_key = 'k' || (n.rank % 20)"
        " FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM taskq.tasks) n"
        " WHERE t.id = n.id"
    )
    stop = threading.Event()
    errors: list[BaseException] = []
    peaks: Counter[str] = Counter()
    held_peak = 0
    held_now: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(CLAIMERS)

    def claimer(index: int) -> None:
        nonlocal held_peak
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                worker = one(c, "SELECT taskq.register_worker(%s)", (f"claimer-{index}",))
                barrier.wait()
                while not stop.is_set():
                    rows = c.execute(
                        "SELECT id, lease_token, concurrency_key"
                        " FROM taskq.claim_next(%s, batch_size => 3)",
                        (worker,),
                    ).fetchall()
                    if not rows:
                        time.sleep(0.002)
                        continue
                    with lock:
                        for _, _, key in rows:
                            held_now[key] += 1
                            held_peak = max(held_peak, held_now[key])
                    time.sleep(0.003)
                    with lock:
                        for _, _, key in rows:
                            held_now[key] -= 1
                    for task_id, token, _ in rows:
                        c.execute("SELECT taskq.complete(%s, %s)", (task_id, token))
        except BaseException as error:
            errors.append(error)
            stop.set()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE
    with psycopg.connect(database_url, autocommit=True) as sampler:
        while time.monotonic() < deadline and not stop.is_set():
            for key, running in sampler.execute(
                "SELECT concurrency_key, count(*) FROM taskq.tasks"
                " WHERE status = 'RUNNING' GROUP BY 1"
            ).fetchall():
                peaks[key] = max(peaks[key], running)
            if one(sampler, "SELECT count(*) FROM taskq.tasks WHERE status <> 'COMPLETED'") == 0:
                break
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED'") == 400
    assert max(peaks.values()) == 2, peaks
    assert held_peak <= 2
    assert set(peaks) <= set(keys)
