"""complete_many and fail_many: a batch of outcomes in one call, all or nothing, slots freed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from taskq import client
from taskq.errors import Conflict
from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

MISSING = UUID("00000000-0000-7000-8000-000000000000")


def claimed(
    conn: Conn, worker_id: UUID, count: int, *, limited: bool = False, **kwargs: Any
) -> list[dict[str, Any]]:
    """``count`` tasks claimed by ``worker_id``; their queue unlimited unless ``limited``."""
    if not limited:
        conn.execute("SELECT taskq.set_concurrency(%s, NULL)", (kwargs.get("queue", "default"),))
    for n in range(count):
        enqueue(conn, payload=Jsonb({"n": n}), **kwargs)
    rows = claim(conn, worker_id, batch_size=count)
    assert len(rows) == count
    return rows


def complete_many(conn: Conn, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT id, status, result, finished_at IS NOT NULL AS finished, lease_token"
        " FROM taskq.complete_many(%s)",
        (Jsonb(items),),
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fail_many(conn: Conn, items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, status, last_error, attempts FROM taskq.fail_many(%s)", (Jsonb(items),)
    ).fetchall()


def server_clock(conn: Conn) -> datetime:
    """The server's clock now; ``now()`` inside a later statement would be later than the call."""
    value = one(conn, "SELECT clock_timestamp()")
    assert isinstance(value, datetime)
    return value


def item(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"task_id": str(row["id"]), "lease_token": str(row["lease_token"]), **extra}


def running_count(conn: Conn) -> int:
    return int(one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'RUNNING'"))


# --- complete_many -----------------------------------------------------------------------------


def test_complete_many_completes_each_task_with_its_result(conn: Conn, worker_id: UUID) -> None:
    rows = claimed(conn, worker_id, 3, queue="batch")
    items = [item(r, result={"i": i}) for i, r in enumerate(reversed(rows))]
    done = complete_many(conn, items)
    # in input order, each with its own result, lease gone
    assert [d["id"] for d in done] == [r["id"] for r in reversed(rows)]
    assert [d["result"] for d in done] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(d["status"] == "COMPLETED" and d["finished"] for d in done)
    assert all(d["lease_token"] is None for d in done)


def test_complete_many_without_a_result_stores_null(conn: Conn, worker_id: UUID) -> None:
    [row] = claimed(conn, worker_id, 1)
    [done] = complete_many(conn, [item(row)])
    assert done["status"] == "COMPLETED"
    assert done["result"] is None


def test_complete_many_frees_the_slots(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('two', 2)")
    rows = claimed(conn, worker_id, 2, queue="two", limited=True)
    for _ in range(2):
        enqueue(conn, queue="two")
    assert claim(conn, worker_id, batch_size=5) == []  # both slots are taken
    complete_many(conn, [item(r) for r in rows])
    assert (
        one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'two' AND task_id IS NULL") == 2
    )
    assert len(claim(conn, worker_id, batch_size=5)) == 2


def test_complete_many_drops_excess_slots_after_lowering(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('shrink', 3)")
    rows = claimed(conn, worker_id, 3, queue="shrink", limited=True)
    conn.execute("SELECT taskq.set_concurrency('shrink', 1)")
    complete_many(conn, [item(r) for r in rows[:2]])
    assert one(conn, "SELECT excess FROM taskq.queues WHERE name = 'shrink'") == 0
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'shrink'") == 1
    enqueue(conn, queue="shrink")
    assert claim(conn, worker_id, queues=["shrink"]) == []  # the one slot is still busy


def test_complete_many_is_all_or_nothing(conn: Conn, worker_id: UUID) -> None:
    rows = claimed(conn, worker_id, 3)
    stale = {**item(rows[1]), "lease_token": str(MISSING)}
    with raises_sqlstate("55000", f"task {rows[1]['id']} is RUNNING"):
        complete_many(conn, [item(rows[0]), stale, item(rows[2])])
    assert running_count(conn) == 3
    assert all(task(conn, r["id"])["status"] == "RUNNING" for r in rows)


def test_complete_many_of_a_finished_task_is_refused(conn: Conn, worker_id: UUID) -> None:
    rows = claimed(conn, worker_id, 2)
    complete_many(conn, [item(rows[0])])
    with raises_sqlstate("55000", "is COMPLETED"):
        complete_many(conn, [item(rows[1]), item(rows[0])])
    assert task(conn, rows[1]["id"])["status"] == "RUNNING"


def test_complete_many_of_an_unknown_task_is_not_found(conn: Conn, worker_id: UUID) -> None:
    [row] = claimed(conn, worker_id, 1)
    with raises_sqlstate("P0002", f"task {MISSING} does not exist"):
        complete_many(
            conn, [item(row), {"task_id": str(MISSING), "lease_token": str(row["lease_token"])}]
        )
    assert task(conn, row["id"])["status"] == "RUNNING"


def test_complete_many_of_nothing_returns_nothing(conn: Conn) -> None:
    assert complete_many(conn, []) == []


def test_complete_many_refuses_bad_arguments(conn: Conn, worker_id: UUID) -> None:
    [row] = claimed(conn, worker_id, 1)
    with raises_sqlstate("22023", "takes a JSON array"):
        conn.execute("SELECT * FROM taskq.complete_many('{}')")
    with raises_sqlstate("22023", "item #2 must be a JSON object"):
        complete_many(conn, [item(row), 5])  # type: ignore[list-item]
    with raises_sqlstate("22023", 'item #1 has an unknown key "error"'):
        complete_many(conn, [item(row, error="x")])
    with raises_sqlstate("22023", 'item #1 needs "lease_token"'):
        complete_many(conn, [{"task_id": str(row["id"])}])
    with raises_sqlstate("22023", "listed more than once"):
        complete_many(conn, [item(row), item(row)])
    assert task(conn, row["id"])["status"] == "RUNNING"


def test_complete_many_notifies_the_queue(conn: Conn, worker_id: UUID, database_url: str) -> None:
    # a slot-limited queue: the freed slots are what a waiting claim needs
    rows = claimed(conn, worker_id, 2, queue="told", limited=True)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN taskq")
        complete_many(conn, [item(r) for r in rows])
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert payloads == ["told"]


# --- fail_many ---------------------------------------------------------------------------------


def test_fail_many_retries_fails_and_cancels_as_fail_does(conn: Conn, worker_id: UUID) -> None:
    retried = claimed(conn, worker_id, 1, max_attempts=3)[0]
    spent = claimed(conn, worker_id, 1, max_attempts=1)[0]
    asked = claimed(conn, worker_id, 1, max_attempts=3)[0]
    conn.execute("SELECT taskq.cancel(%s)", (asked["id"],))
    before = server_clock(conn)
    rows = fail_many(
        conn,
        [
            item(retried, error="boom", retry_delay="10 seconds"),
            item(spent, error="bust"),
            item(asked, error="stopped"),
        ],
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (retried["id"], "QUEUED", "boom"),
        (spent["id"], "FAILED", "bust"),
        (asked["id"], "CANCELLED", "stopped"),
    ]
    after = server_clock(conn)
    scheduled_at = task(conn, retried["id"])["scheduled_at"]
    assert before + timedelta(seconds=10) <= scheduled_at <= after + timedelta(seconds=10)
    errors = task(conn, spent["id"])["errors"]
    assert [e["error"] for e in errors] == ["bust"]
    assert running_count(conn) == 0


def test_fail_many_without_a_delay_uses_the_backoff(conn: Conn, worker_id: UUID) -> None:
    [row] = claimed(conn, worker_id, 1)
    before = server_clock(conn)
    fail_many(conn, [item(row, error="later")])
    after = server_clock(conn)
    scheduled_at = task(conn, row["id"])["scheduled_at"]
    # backoff(1) is 2 s with +/- 25% jitter, counted from the moment fail_many ran
    assert before + timedelta(seconds=1.5) <= scheduled_at <= after + timedelta(seconds=2.5)


def test_fail_many_frees_the_slots(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('pair', 2)")
    rows = claimed(conn, worker_id, 2, queue="pair", max_attempts=1, limited=True)
    fail_many(conn, [item(r, error="x") for r in rows])
    assert (
        one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'pair' AND task_id IS NULL") == 2
    )


def test_fail_many_is_all_or_nothing(conn: Conn, worker_id: UUID) -> None:
    rows = claimed(conn, worker_id, 2)
    with raises_sqlstate("55000", f"task {rows[1]['id']}"):
        fail_many(
            conn,
            [item(rows[0], error="x"), {**item(rows[1], error="x"), "lease_token": str(MISSING)}],
        )
    assert running_count(conn) == 2


def test_fail_many_refuses_bad_arguments(conn: Conn, worker_id: UUID) -> None:
    [row] = claimed(conn, worker_id, 1)
    with raises_sqlstate("22023", 'needs "error"'):
        fail_many(conn, [item(row)])
    with raises_sqlstate("22023", 'unknown key "result"'):
        fail_many(conn, [item(row, error="x", result=1)])
    with raises_sqlstate("22023", "retry_delay must not be negative"):
        fail_many(conn, [item(row, error="x", retry_delay="-1 second")])
    assert task(conn, row["id"])["status"] == "RUNNING"


# --- the typed client --------------------------------------------------------------------------


async def test_client_complete_many_and_fail_many(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        worker_id = await client.register_worker(conn, "client-test")
        await client.set_concurrency(conn, "default", None)
        for n in range(3):
            await client.enqueue(conn, "job", {"n": n}, max_attempts=1)
        tasks = await client.claim_next(conn, worker_id, batch_size=3)
        assert len(tasks) == 3
        tokens = [t.lease_token for t in tasks]
        assert all(token is not None for token in tokens)
        completions = [
            client.Completion(t.id, token, {"ok": t.payload["n"]})
            for t, token in zip(tasks[:2], tokens[:2], strict=True)
            if token is not None
        ]
        done = await client.complete_many(conn, completions)
        assert [(t.status, t.result) for t in done] == [
            ("COMPLETED", {"ok": 0}),
            ("COMPLETED", {"ok": 1}),
        ]
        last, token = tasks[2], tokens[2]
        assert token is not None
        with pytest.raises(Conflict):
            await client.complete_many(conn, [client.Completion(last.id, tasks[0].id)])
        [failed] = await client.fail_many(
            conn, [client.Failure(last.id, token, "nope", timedelta(seconds=5))]
        )
        assert (failed.status, failed.last_error) == ("FAILED", "nope")
        assert await client.complete_many(conn, []) == []
