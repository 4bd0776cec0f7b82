"""Rate limits: set_rate_limit, the token bucket the claim spends, next_due, and exactness under
concurrent claimers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate

CLAIMERS = 8


def fill(conn: Conn, count: int, queue: str = "default") -> None:
    conn.execute(
        "SELECT taskq.enqueue('job', queue => %s) FROM generate_series(1, %s)", (queue, count)
    )


def drain_bucket(conn: Conn, queue: str = "default") -> None:
    """Empty the bucket now, as if every token had just been spent."""
    conn.execute(
        "UPDATE taskq.queues SET tokens = 0, refilled_at = clock_timestamp() WHERE name = %s",
        (queue,),
    )


def test_set_rate_limit_shows_and_audits(conn: Conn) -> None:
    row = conn.execute(
        "SELECT name, rate, rate_per, rate_burst, tokens FROM taskq.set_rate_limit('api', 100,"
        " per => '1 minute', burst => 10, reason => 'their quota')"
    ).fetchone()
    assert row == ("api", Decimal(100), timedelta(minutes=1), 10, Decimal(10))
    stats = conn.execute(
        "SELECT rate, rate_per, rate_burst FROM taskq.queue_stats WHERE queue = 'api'"
    ).fetchone()
    assert stats == (Decimal(100), timedelta(minutes=1), 10)
    # the default burst: the rate, rounded up
    assert one(conn, "SELECT rate_burst FROM taskq.set_rate_limit('api', 2.5)") == 3
    conn.execute("SELECT taskq.set_rate_limit('api', NULL)")
    assert conn.execute(
        "SELECT rate, rate_per, rate_burst, tokens FROM taskq.queues WHERE name = 'api'"
    ).fetchone() == (None, None, None, None)
    audit = conn.execute(
        "SELECT before, after, reason FROM taskq.audit WHERE action = 'set_rate_limit' ORDER BY id"
    ).fetchall()
    assert audit == [
        (
            {"rate": None, "per": None, "burst": None},
            {"rate": 100, "per": "00:01:00", "burst": 10},
            "their quota",
        ),
        (
            {"rate": 100, "per": "00:01:00", "burst": 10},
            {"rate": 2.5, "per": "00:00:01", "burst": 3},
            None,
        ),
        (
            {"rate": 2.5, "per": "00:00:01", "burst": 3},
            {"rate": None, "per": None, "burst": None},
            None,
        ),
    ]


@pytest.mark.parametrize(
    ("args", "column"),
    [
        ("0", "rate"),
        ("-1", "rate"),
        ("'NaN'", "rate"),
        ("1000001", "rate"),
        ("1, per => '0 seconds'", "per"),
        ("1, per => '-1 second'", "per"),
        ("1, per => NULL", "per"),
        ("1, per => '2 years'", "per"),
        ("1, per => '0.5 ms'", "per"),
        ("1, burst => 0", "burst"),
        ("1, burst => 1000001", "burst"),
        ("0.00001, per => '1 year'", "rate"),
    ],
)
def test_bad_arguments(conn: Conn, args: str, column: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        conn.execute(f"SELECT taskq.set_rate_limit('default', {args})")
    assert info.value.diag.column_name == column
    assert one(conn, "SELECT count(*) FROM taskq.audit WHERE action = 'set_rate_limit'") == 0


def test_infinite_rate_is_refused(conn: Conn) -> None:
    if conn.info.server_version < 140000:
        pytest.skip("numeric has no infinity before PostgreSQL 14")
    with raises_sqlstate("22023"):
        conn.execute("SELECT taskq.set_rate_limit('default', 'Infinity')")


def test_a_claim_takes_at_most_the_tokens(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 1, per => '1 hour', burst => 3)")
    fill(conn, 10)
    assert len(claim(conn, worker_id, batch_size=10)) == 3  # the full bucket
    assert claim(conn, worker_id, batch_size=10) == []  # empty for an hour
    assert one(conn, "SELECT tokens < 1 FROM taskq.queues WHERE name = 'default'")
    # other queues are not held up
    enqueue(conn, queue="other")
    assert len(claim(conn, worker_id, batch_size=10)) == 1


def test_the_bucket_refills_by_the_clock(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 1, per => '1 minute', burst => 5)")
    fill(conn, 20)
    drain_bucket(conn)
    assert claim(conn, worker_id, batch_size=20) == []
    # 3.5 minutes later: 3 whole tokens
    conn.execute("UPDATE taskq.queues SET refilled_at = refilled_at - interval '3.5 minutes'")
    assert len(claim(conn, worker_id, batch_size=20)) == 3
    # long idle: never more than the burst
    conn.execute("UPDATE taskq.queues SET refilled_at = refilled_at - interval '1 hour'")
    assert len(claim(conn, worker_id, batch_size=20)) == 5


def test_next_due_is_the_next_token(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 1, per => '10 seconds', burst => 1)")
    assert one(conn, "SELECT taskq.next_due()") is None  # no task
    fill(conn, 3)
    assert len(claim(conn, worker_id, batch_size=3)) == 1
    wait = one(conn, "SELECT extract(epoch FROM taskq.next_due(ARRAY['default']) - now())")
    assert 9 < wait <= 10
    assert one(conn, "SELECT taskq.next_due(ARRAY['other'])") is None
    # a scheduled task due sooner comes first
    conn.execute(
        "SELECT taskq.enqueue('job', queue => 'other',"
        " scheduled_at => now() + interval '2 seconds')"
    )
    soon = one(conn, "SELECT extract(epoch FROM taskq.next_due() - now())")
    assert soon < 9
    # a token that came a moment ago is answered too (the claim that found none just missed
    # it); one unspent for longer is not
    conn.execute(
        "UPDATE taskq.queues SET refilled_at = now() - interval '10.5 seconds'"
        " WHERE rate IS NOT NULL"
    )
    assert -1 < one(conn, "SELECT extract(epoch FROM taskq.next_due(ARRAY['default']) - now())") < 0
    conn.execute(
        "UPDATE taskq.queues SET refilled_at = now() - interval '12 seconds' WHERE rate IS NOT NULL"
    )
    assert one(conn, "SELECT taskq.next_due(ARRAY['default'])") is None
    # a paused queue waits for no token
    conn.execute("SELECT taskq.pause_queue('default')")
    assert one(conn, "SELECT taskq.next_due(ARRAY['default'])") is None


def test_changing_the_rate_keeps_the_tokens(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 1, per => '1 hour', burst => 5)")
    fill(conn, 10)
    assert len(claim(conn, worker_id, batch_size=4)) == 4
    conn.execute("SELECT taskq.set_rate_limit('default', 2, per => '1 hour', burst => 5)")
    assert len(claim(conn, worker_id, batch_size=10)) == 1  # not a fresh bucket
    conn.execute("SELECT taskq.set_rate_limit('default', NULL)")
    assert len(claim(conn, worker_id, batch_size=10)) == 5


def test_a_claim_skips_a_bucket_another_claim_holds(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 1, per => '1 hour', burst => 5)")
    fill(conn, 5)
    with psycopg.connect(database_url) as first:
        assert len(claim(first, worker_id)) == 1  # open transaction: holds the bucket
        with psycopg.connect(database_url, autocommit=True) as second:
            second.execute("SET lock_timeout = '2s'")
            began = time.monotonic()
            assert claim(second, worker_id, batch_size=5) == []
            assert time.monotonic() - began < 2
        first.commit()
    assert len(claim(conn, worker_id, batch_size=5)) == 4


def test_exact_under_concurrent_claimers(conn: Conn, database_url: str) -> None:
    """8 claimers on a bucket of 1 token per hour, burst 40, over 100 tasks: exactly 40 claimed."""
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 1, per => '1 hour', burst => 40)")
    fill(conn, 100)
    claimed: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLAIMERS)
    errors: list[BaseException] = []

    def claimer(index: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                worker = one(c, "SELECT taskq.register_worker(%s)", (f"claimer-{index}",))
                barrier.wait()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    rows = claim(c, worker, batch_size=3)
                    with lock:
                        claimed.extend(r["id"] for r in rows)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(claimed) == len(set(claimed)) == 40
