"""Invariants under real concurrency: many connections claiming at once, READ COMMITTED.

1. No task is claimed twice while leased.
2. The RUNNING tasks of a queue never exceed its concurrency, and do reach it.
3. A claim never waits for another claim; an uncommitted claim keeps its slot.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, claim, enqueue, one, task

CLAIMERS = 8
RUNNING_MOVING = "SELECT count(*) FROM taskq.tasks WHERE queue = 'moving' AND status = 'RUNNING'"
DEADLINE = 60.0


def lean_claim(conn: Conn, worker: UUID, queue: str, batch_size: int) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT id, lease_token FROM taskq.claim(%s, ARRAY[%s], batch_size => %s)",
        (worker, queue, batch_size),
    )
    return [{"id": task_id, "lease_token": token} for task_id, token in cur.fetchall()]


class Peak:
    """The number of tasks held at once, as the claimers see it, and its peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def add(self, n: int) -> None:
        with self.lock:
            self.now += n
            self.peak = max(self.peak, self.now)


def drain(
    database_url: str, queue: str, total: int, hold: float, batch_size: int, lean: bool = False
) -> tuple[list[UUID], Peak, int]:
    """CLAIMERS threads claim, hold, complete until every task is done; a sampler watches the
    committed RUNNING count. Returns every claimed id, the claimers' peak and the sampled peak.
    lean: claim with taskq.claim and complete a batch with complete_many over arrays (bound as
    text[], as a worker may), instead of claim_next and complete one by one."""
    claimed: list[UUID] = []
    claimed_lock = threading.Lock()
    peak = Peak()
    sampled_peak = 0
    stop = threading.Event()
    errors: list[BaseException] = []
    barrier = threading.Barrier(CLAIMERS)

    def claimer(index: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                worker = one(conn, "SELECT taskq.register_worker(%s)", (f"claimer-{index}",))
                barrier.wait()
                while not stop.is_set():
                    rows = (
                        lean_claim(conn, worker, queue, batch_size)
                        if lean
                        else claim(conn, worker, queues=[queue], batch_size=batch_size)
                    )
                    if not rows:
                        time.sleep(0.002)
                        continue
                    peak.add(len(rows))
                    with claimed_lock:
                        claimed.extend(r["id"] for r in rows)
                    time.sleep(hold)
                    peak.add(-len(rows))
                    if lean:
                        conn.execute(
                            "SELECT taskq.complete_many(%s::text[]::uuid[], %s::text[]::uuid[],"
                            " %s::text[]::jsonb[])",
                            (
                                [str(r["id"]) for r in rows],
                                [str(r["lease_token"]) for r in rows],
                                ['{"ok": 1}'] * len(rows),
                            ),
                        )
                        continue
                    for r in rows:
                        conn.execute("SELECT taskq.complete(%s, %s)", (r["id"], r["lease_token"]))
        except BaseException as error:
            errors.append(error)
            stop.set()

    def sampler() -> None:
        nonlocal sampled_peak
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                running = one(
                    conn,
                    "SELECT count(*) FROM taskq.tasks WHERE queue = %s AND status = 'RUNNING'",
                    (queue,),
                )
                sampled_peak = max(sampled_peak, running)
                done = one(
                    conn,
                    "SELECT count(*) FROM taskq.tasks WHERE queue = %s AND status = 'COMPLETED'",
                    (queue,),
                )
                if done == total:
                    stop.set()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while not stop.is_set() and time.monotonic() - started < DEADLINE:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return claimed, peak, sampled_peak


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_slots_hold_under_concurrent_claims(conn: Conn, database_url: str, limit: int) -> None:
    total = 60
    conn.execute("SELECT taskq.set_concurrency('slots', %s)", (limit,))
    conn.execute(
        "SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "t", "queue": "slots"}] * total),)
    )
    claimed, peak, sampled_peak = drain(database_url, "slots", total, hold=0.01, batch_size=2)
    counts = Counter(claimed)
    assert len(counts) == total
    assert max(counts.values()) == 1, "a task was claimed twice"
    assert peak.peak <= limit
    assert sampled_peak <= limit
    assert peak.peak == limit, "the limit was never reached"
    assert (
        one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED' AND attempts = 1")
        == total
    )


def test_unlimited_queue_never_double_claims(conn: Conn, database_url: str) -> None:
    total = 400
    conn.execute("SELECT taskq.set_concurrency('free', NULL)")
    conn.execute(
        "SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "t", "queue": "free"}] * total),)
    )
    claimed, peak, _ = drain(database_url, "free", total, hold=0.0, batch_size=5)
    counts = Counter(claimed)
    assert len(counts) == total
    assert max(counts.values()) == 1
    assert peak.peak > 5, "claims did not overlap"


def test_uncommitted_claim_keeps_its_slot_and_claims_do_not_wait(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    for _ in range(4):
        enqueue(conn)
    with psycopg.connect(database_url) as holder:  # not autocommit: the claim stays open
        held = claim(holder, worker_id)
        assert len(held) == 1
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")  # a claim that waited would fail here
            started = time.monotonic()
            second = claim(other, worker_id, batch_size=4)
            third = claim(other, worker_id, batch_size=4)
            elapsed = time.monotonic() - started
        assert len(second) == 1
        assert third == []
        assert second[0]["id"] != held[0]["id"]
        assert elapsed < 2
        holder.rollback()
    # the rolled-back claim gave its slot and its task back
    rows = claim(conn, worker_id, batch_size=4)
    assert [r["id"] for r in rows] == [held[0]["id"]]


def test_unregister_during_a_claim_waits_for_it_and_hands_back_what_it_took(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    task_id = enqueue(conn)
    with psycopg.connect(database_url) as holder:  # not autocommit: the claim stays open
        [held] = claim(holder, worker_id)
        assert held["id"] == task_id
        handed_back: list[int] = []

        def unregister() -> None:
            with psycopg.connect(database_url, autocommit=True) as other:
                handed_back.append(one(other, "SELECT taskq.unregister_worker(%s)", (worker_id,)))

        leaving = threading.Thread(target=unregister)
        leaving.start()
        leaving.join(1.0)
        assert leaving.is_alive()  # it waits for the claim
        holder.commit()
        leaving.join(10)
    assert handed_back == [1]
    row = task(conn, task_id)
    assert (row["status"], row["attempts"]) == ("QUEUED", 0)


def test_concurrent_set_concurrency_and_claims(conn: Conn, database_url: str) -> None:
    """Changing the limit while claimers run never lets RUNNING pass the limit in force."""
    total = 120
    conn.execute("SELECT taskq.set_concurrency('moving', 3)")
    conn.execute(
        "SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "t", "queue": "moving"}] * total),)
    )
    limits = [1, 3, 2, None, 2, 1, 3]
    stop = threading.Event()
    violations: list[Any] = []

    def changer() -> None:
        with psycopg.connect(database_url, autocommit=True) as c:
            for value in limits:
                if stop.is_set():
                    return
                c.execute("SELECT taskq.set_concurrency('moving', %s)", (value,))
                # once every slot above the new limit has drained, RUNNING must stay within it
                deadline = time.monotonic() + 5
                while value is not None and time.monotonic() < deadline and not stop.is_set():
                    slots = one(c, "SELECT count(*) FROM taskq.slots WHERE queue = 'moving'")
                    if slots == value:
                        for _ in range(20):
                            r = one(c, RUNNING_MOVING)
                            if r > value:
                                violations.append((value, r))
                            time.sleep(0.005)
                        break
                    time.sleep(0.01)

    thread = threading.Thread(target=changer)
    thread.start()
    try:
        claimed, _, _ = drain(database_url, "moving", total, hold=0.01, batch_size=2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not violations, violations
    assert len(set(claimed)) == total
