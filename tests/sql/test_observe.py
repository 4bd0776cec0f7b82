"""taskq.worker_info (the workers, their running tasks, alive or presumed dead) and
taskq.throughput (the tasks finished per queue and bucket, by outcome)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from taskq import client
from taskq.errors import InvalidArgument
from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate


def workers(conn: Conn) -> dict[UUID, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["id"]: r for r in cur.execute("SELECT * FROM taskq.worker_info").fetchall()}


def throughput(conn: Conn, bucket: Any = "1 minute", buckets: Any = 30) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        sql = "SELECT * FROM taskq.throughput(%s::interval, %s)"
        return cur.execute(sql, (bucket, buckets)).fetchall()


def test_worker_info_counts_running_tasks_and_tells_a_dead_worker(conn: Conn) -> None:
    busy = one(conn, "SELECT taskq.register_worker('busy', '{default}', 'host-a', 41)")
    idle = one(conn, "SELECT taskq.register_worker('idle')")
    for _ in range(3):
        enqueue(conn)
    claim(conn, busy, batch_size=2)
    rows = workers(conn)
    assert rows[busy]["running"] == 2
    assert rows[idle]["running"] == 0
    assert (rows[busy]["name"], rows[busy]["host"], rows[busy]["pid"]) == ("busy", "host-a", 41)
    assert rows[busy]["queues"] == ["default"]
    assert rows[idle]["queues"] is None
    assert rows[busy]["alive"]
    assert rows[idle]["alive"]
    assert rows[idle]["lease"] == timedelta(seconds=30)
    # a heartbeat older than the worker's lease: presumed dead, its tasks still counted
    conn.execute(
        "UPDATE taskq.workers SET heartbeat_at = now() - interval '31 seconds' WHERE id = %s",
        (busy,),
    )
    conn.execute("SELECT taskq.heartbeat(%s, interval '2 minutes')", (idle,))
    rows = workers(conn)
    assert not rows[busy]["alive"]
    assert rows[busy]["running"] == 2
    assert rows[idle]["alive"]
    assert rows[idle]["lease"] == timedelta(minutes=2)
    conn.execute(
        "UPDATE taskq.workers SET heartbeat_at = now() - interval '119 seconds' WHERE id = %s",
        (idle,),
    )
    assert workers(conn)[idle]["alive"]


def test_throughput_counts_each_outcome_in_its_bucket(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    ids = [enqueue(conn) for _ in range(6)]
    enqueue(conn, queue="other")
    for row in claim(conn, worker_id, batch_size=6):
        conn.execute("SELECT taskq.complete(%s, %s)", (row["id"], row["lease_token"]))
    # finished 90 s and 10 minutes ago, as FAILED and CANCELLED; one outside the window
    finish = "UPDATE taskq.tasks SET status = %s, finished_at = clock_timestamp() - %s::interval"
    conn.execute(finish + " WHERE id = %s", ("FAILED", "90 seconds", ids[0]))
    conn.execute(finish + " WHERE id = ANY(%s)", ("CANCELLED", "10 minutes", ids[1:3]))
    conn.execute(finish + " WHERE id = %s", ("COMPLETED", "31 minutes", ids[3]))
    rows = throughput(conn)
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_queue.setdefault(row["queue"], []).append(row)
    assert set(by_queue) == {"default", "other"}
    default = by_queue["default"]
    assert len(default) == 30
    assert len(by_queue["other"]) == 30
    assert [r["bucket_start"] for r in default] == sorted(r["bucket_start"] for r in default)
    for before, after in itertools.pairwise(default):
        assert before["bucket_end"] == after["bucket_start"]
        assert after["bucket_end"] - after["bucket_start"] == timedelta(minutes=1)
    assert [(r["completed"], r["failed"], r["cancelled"]) for r in default[-1:]] == [(2, 0, 0)]
    assert (default[-2]["completed"], default[-2]["failed"]) == (0, 1)
    assert default[-11]["cancelled"] == 2
    assert sum(r["completed"] + r["failed"] + r["cancelled"] for r in default) == 5
    assert all(r["completed"] + r["failed"] + r["cancelled"] == 0 for r in by_queue["other"])
    # one bucket of an hour holds all six
    (hour,) = [r for r in throughput(conn, "1 hour", 1) if r["queue"] == "default"]
    assert (hour["completed"], hour["failed"], hour["cancelled"]) == (3, 1, 2)


@pytest.mark.parametrize(
    ("bucket", "buckets", "sqlstate", "match"),
    [
        (None, 30, "22004", "bucket must not be NULL"),
        ("1 minute", None, "22004", "buckets must not be NULL"),
        ("0.5 seconds", 30, "22023", "bucket"),
        ("0", 30, "22023", "bucket"),
        ("-1 minute", 30, "22023", "bucket"),
        ("1 day 1 second", 30, "22023", "bucket"),
        ("1 minute", 0, "22023", "buckets"),
        ("1 minute", 1441, "22023", "buckets"),
        ("1 minute", -5, "22023", "buckets"),
        ("1 hour", 25, "22023", "1 day"),
        ("1 day", 2, "22023", "1 day"),
    ],
)
def test_throughput_refuses_a_bad_window(
    conn: Conn, bucket: Any, buckets: Any, sqlstate: str, match: str
) -> None:
    with raises_sqlstate(sqlstate, match):
        throughput(conn, bucket, buckets)


def test_throughput_takes_a_mixed_interval_as_seconds(conn: Conn) -> None:
    enqueue(conn)
    rows = throughput(conn, "1 mon -29 days -01:00:00", 1)
    assert rows[0]["bucket_end"] - rows[0]["bucket_start"] == timedelta(hours=23)


async def test_the_client_reads_both(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
        worker = await client.register_worker(aconn, "reader", queues=["default"])
        await client.enqueue(aconn, "job")
        (info,) = await client.list_workers(aconn)
        assert (info.id, info.name, info.running, info.alive) == (worker, "reader", 0, True)
        rows = await client.throughput(aconn, timedelta(seconds=10), 6)
        assert [r.queue for r in rows] == ["default"] * 6
        assert rows[-1].bucket_end - rows[-1].bucket_start == timedelta(seconds=10)
        with pytest.raises(InvalidArgument, match="buckets"):
            await client.throughput(aconn, timedelta(minutes=1), 0)
