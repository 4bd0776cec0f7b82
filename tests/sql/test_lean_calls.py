"""The lean batch calls: claim (9 columns), complete_many and fail_many over arrays.

Arrays are matched by position, all or nothing; slots are freed set-wise, with one NOTIFY per
slot-limited queue and none for an unlimited one."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task
from tests.sql.test_concurrency import drain

CLAIMED_COLUMNS = [
    "id",
    "queue",
    "name",
    "payload",
    "priority",
    "attempts",
    "max_attempts",
    "lease_token",
    "lease_expires_at",
    "timeout",
    "trace_context",
]
MISSING = UUID("00000000-0000-7000-8000-000000000000")


def lean_claim(conn: Conn, worker_id: UUID, **kwargs: Any) -> list[dict[str, Any]]:
    names = "".join(f", {key} => %({key})s" for key in kwargs)
    cur = conn.execute(
        f"SELECT * FROM taskq.claim(%(worker_id)s{names})", {"worker_id": worker_id, **kwargs}
    )
    columns = [c.name for c in cur.description or []]
    assert columns == CLAIMED_COLUMNS
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def claimed(
    conn: Conn, worker_id: UUID, count: int, queue: str = "default"
) -> list[dict[str, Any]]:
    """``count`` tasks of ``queue`` claimed; a new queue gets 10 slots."""
    if not one(conn, "SELECT count(*) FROM taskq.queues WHERE name = %s", (queue,)):
        conn.execute("SELECT taskq.set_concurrency(%s, 10)", (queue,))
    for n in range(count):
        enqueue(conn, payload=Jsonb({"n": n}), queue=queue)
    rows = lean_claim(conn, worker_id, queues=[queue], batch_size=count)
    assert len(rows) == count
    return rows


def complete_many(conn: Conn, ids: Any, tokens: Any, results: Any = None) -> int:
    value = one(
        conn,
        "SELECT taskq.complete_many(%s::uuid[], %s::uuid[], %s::jsonb[])",
        (ids, tokens, results),
    )
    assert isinstance(value, int)
    return value


def fail_many(
    conn: Conn, ids: Any, tokens: Any, errors: Any, delays: Any = None
) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT * FROM taskq.fail_many(%s::uuid[], %s::uuid[], %s::text[], %s::interval[])",
        (ids, tokens, errors, delays),
    ).fetchall()


def statuses(conn: Conn, ids: list[UUID]) -> list[str]:
    return [task(conn, i)["status"] for i in ids]


# --- claim -------------------------------------------------------------------------------------


def test_claim_returns_what_claim_next_would(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    for n in range(12):
        enqueue(
            conn, f"job{n % 3}", priority=["LOW", "MEDIUM", "HIGH"][n % 3], payload=Jsonb({"n": n})
        )
    with psycopg.connect(database_url) as twin:
        # the same database state twice: claim_next in one transaction, rolled back, then claim
        expected = claim(twin, worker_id, batch_size=7, names=["job0", "job2"])
        twin.rollback()
    rows = lean_claim(conn, worker_id, batch_size=7, names=["job0", "job2"])
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    for row, full in zip(rows, expected, strict=True):
        assert {
            k: full[k] for k in CLAIMED_COLUMNS if k not in ("lease_token", "lease_expires_at")
        } == {k: row[k] for k in CLAIMED_COLUMNS if k not in ("lease_token", "lease_expires_at")}
        got = task(conn, row["id"])
        assert got["status"] == "RUNNING"
        assert (got["lease_token"], got["lease_expires_at"]) == (
            row["lease_token"],
            row["lease_expires_at"],
        )


def test_claim_raises_what_claim_next_raises(conn: Conn, worker_id: UUID) -> None:
    with raises_sqlstate("22023", "batch_size"):
        lean_claim(conn, worker_id, batch_size=0)
    with raises_sqlstate("22023", "lease"):
        lean_claim(conn, worker_id, lease="0 seconds")
    with raises_sqlstate("P0002", "is not registered"):
        lean_claim(conn, MISSING)


# --- complete_many -----------------------------------------------------------------------------


def test_complete_many_matches_by_position(conn: Conn, worker_id: UUID) -> None:
    rows = claimed(conn, worker_id, 6, queue="wide")
    random.Random(7).shuffle(rows)
    ids = [r["id"] for r in rows]
    results = [f'{{"i": {i}}}' for i in range(len(rows))]
    assert complete_many(conn, ids, [r["lease_token"] for r in rows], results) == 6
    for i, row in enumerate(rows):
        done = task(conn, row["id"])
        assert (done["status"], done["result"], done["lease_token"]) == (
            "COMPLETED",
            {"i": i},
            None,
        )
        assert done["finished_at"] is not None
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 0


def test_complete_many_results_null_and_jsonb_array(conn: Conn, worker_id: UUID) -> None:
    first, second = claimed(conn, worker_id, 2)
    assert complete_many(conn, [first["id"]], [first["lease_token"]]) == 1
    assert task(conn, first["id"])["result"] is None
    value = one(
        conn,
        "SELECT taskq.complete_many(%s, %s, %s)",
        ([second["id"]], [second["lease_token"]], [Jsonb({"ok": True})]),
    )
    assert value == 1
    assert task(conn, second["id"])["result"] == {"ok": True}


def test_complete_many_swapped_tokens_are_refused_and_change_nothing(
    conn: Conn, worker_id: UUID
) -> None:
    a, b, c = claimed(conn, worker_id, 3, queue="wide")
    ids = [a["id"], b["id"], c["id"]]
    with raises_sqlstate("55000") as _:
        complete_many(conn, ids, [a["lease_token"], c["lease_token"], b["lease_token"]])
    assert statuses(conn, ids) == ["RUNNING"] * 3


def test_complete_many_refusal_names_the_task(conn: Conn, worker_id: UUID) -> None:
    a, b, c = claimed(conn, worker_id, 3, queue="wide")
    ids = [a["id"], b["id"], c["id"]]
    tokens = [a["lease_token"], MISSING, c["lease_token"]]
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as info:
        complete_many(conn, ids, tokens)
    assert str(b["id"]) in str(info.value)
    assert info.value.diag.table_name == "tasks"
    assert info.value.diag.message_detail == f'{{"status": "RUNNING", "task_id": "{b["id"]}"}}'
    assert statuses(conn, ids) == ["RUNNING"] * 3
    with pytest.raises(psycopg.errors.NoDataFound) as missing:
        complete_many(conn, [a["id"], MISSING], [a["lease_token"], MISSING])
    assert missing.value.diag.table_name == "tasks"
    assert str(MISSING) in str(missing.value)
    assert statuses(conn, ids) == ["RUNNING"] * 3
    # a task already completed is refused the second time, naming it
    assert complete_many(conn, [c["id"]], [c["lease_token"]]) == 1
    with raises_sqlstate("55000", f"task {c['id']} is COMPLETED"):
        complete_many(conn, [a["id"], c["id"]], [a["lease_token"], c["lease_token"]])
    assert statuses(conn, ids) == ["RUNNING", "RUNNING", "COMPLETED"]


def test_complete_many_listed_twice(conn: Conn, worker_id: UUID) -> None:
    a, b = claimed(conn, worker_id, 2)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        complete_many(
            conn,
            [a["id"], b["id"], a["id"]],
            [a["lease_token"], b["lease_token"], a["lease_token"]],
        )
    assert f"task {a['id']} is listed more than once" in str(info.value)
    assert info.value.diag.column_name == "task_ids"
    assert statuses(conn, [a["id"], b["id"]]) == ["RUNNING"] * 2


def bad_arguments() -> list[tuple[str, str, str]]:
    """(SQL arguments built from :ids/:tokens of two tasks, SQLSTATE, COLUMN)."""
    return [
        ("NULL, {tokens}", "22004", "task_ids"),
        ("{ids}, NULL", "22004", "lease_tokens"),
        ("{ids}, {one_token}", "22023", "lease_tokens"),
        ("{ids}, {tokens}, ARRAY['{{}}']::jsonb[]", "22023", "results"),
        ("ARRAY[{id0}, NULL]::uuid[], {tokens}", "22004", "task_ids[2]"),
        ("{ids}, ARRAY[{token0}, NULL]::uuid[]", "22004", "lease_tokens[2]"),
        ("ARRAY[[{id0}], [{id1}]]::uuid[], {tokens}", "22023", "task_ids"),
        (
            "'[0:1]={{" + f"{MISSING},{MISSING}" + "}}'::uuid[], {tokens}",
            "22023",
            "task_ids",
        ),
    ]


@pytest.mark.parametrize(("args", "sqlstate", "column"), bad_arguments())
def test_complete_many_bad_arguments(
    conn: Conn, worker_id: UUID, args: str, sqlstate: str, column: str
) -> None:
    a, b = claimed(conn, worker_id, 2)
    values = {
        "ids": f"ARRAY['{a['id']}', '{b['id']}']::uuid[]",
        "tokens": f"ARRAY['{a['lease_token']}', '{b['lease_token']}']::uuid[]",
        "one_token": f"ARRAY['{a['lease_token']}']::uuid[]",
        "id0": f"'{a['id']}'::uuid",
        "id1": f"'{b['id']}'::uuid",
        "token0": f"'{a['lease_token']}'::uuid",
    }
    with pytest.raises(psycopg.Error) as info:
        conn.execute(f"SELECT taskq.complete_many({args.format(**values)})")
    assert info.value.sqlstate == sqlstate, str(info.value)
    assert info.value.diag.column_name == column
    assert statuses(conn, [a["id"], b["id"]]) == ["RUNNING"] * 2


def test_complete_many_deep_result(conn: Conn, worker_id: UUID) -> None:
    a, b = claimed(conn, worker_id, 2)
    deep = "[" * 65 + "1" + "]" * 65
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        complete_many(conn, [a["id"], b["id"]], [a["lease_token"], b["lease_token"]], ["{}", deep])
    assert info.value.diag.column_name == "results[2]"
    assert "nested deeper than 64 levels" in str(info.value)
    assert statuses(conn, [a["id"], b["id"]]) == ["RUNNING"] * 2
    level_64 = "[" * 64 + "1" + "]" * 64
    assert complete_many(conn, [a["id"]], [a["lease_token"]], [level_64]) == 1


def test_empty_arrays(conn: Conn) -> None:
    assert complete_many(conn, [], [], []) == 0
    assert complete_many(conn, [], []) == 0
    assert fail_many(conn, [], [], []) == []


# --- slots and notifications -------------------------------------------------------------------


def notes_of(database_url: str, conn: Conn, sql: str, params: Any) -> list[str]:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN taskq")
        conn.execute(sql, params)
        # a NOTIFY of our own marks the end: everything the call sent came before it
        conn.execute("SELECT pg_notify('taskq', 'end')")
        payloads = []
        for note in listener.notifies(timeout=5):
            if note.payload == "end":
                break
            payloads.append(note.payload)
    return payloads


def test_slots_freed_and_one_notify_per_limited_queue(
    conn: Conn, worker_id: UUID, database_url: str
) -> None:
    conn.execute("SELECT taskq.set_concurrency('limited_a', 3)")
    conn.execute("SELECT taskq.set_concurrency('limited_b', 2)")
    conn.execute("SELECT taskq.set_concurrency('free', NULL)")
    rows = claimed(conn, worker_id, 3, "limited_a") + claimed(conn, worker_id, 2, "limited_b")
    rows += claimed(conn, worker_id, 2, "free")
    random.Random(3).shuffle(rows)
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 5
    payloads = notes_of(
        database_url,
        conn,
        "SELECT taskq.complete_many(%s, %s)",
        ([r["id"] for r in rows], [r["lease_token"] for r in rows]),
    )
    assert sorted(payloads) == ["limited_a", "limited_b"]
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 0
    assert one(conn, "SELECT count(*) FROM taskq.slots") == 5
    # the freed slots are claimable again
    claimed(conn, worker_id, 3, "limited_a")


def test_fail_many_notifies_a_requeued_unlimited_queue(
    conn: Conn, worker_id: UUID, database_url: str
) -> None:
    conn.execute("SELECT taskq.set_concurrency('free', NULL)")
    [row] = claimed(conn, worker_id, 1, "free")
    payloads = notes_of(
        database_url,
        conn,
        "SELECT * FROM taskq.fail_many(%s, %s, %s)",
        ([row["id"]], [row["lease_token"]], ["boom"]),
    )
    assert payloads == ["free"]
    [again] = claimed(conn, worker_id, 1, "free")
    payloads = notes_of(
        database_url,
        conn,
        "SELECT taskq.complete_many(%s, %s)",
        ([again["id"]], [again["lease_token"]]),
    )
    assert payloads == []


def test_complete_on_an_unlimited_queue_sends_no_notify(
    conn: Conn, worker_id: UUID, database_url: str
) -> None:
    conn.execute("SELECT taskq.set_concurrency('free', NULL)")
    [row] = claimed(conn, worker_id, 1, "free")
    sql = "SELECT taskq.complete(%s, %s)"
    assert notes_of(database_url, conn, sql, (row["id"], row["lease_token"])) == []
    [limited] = claimed(conn, worker_id, 1, "limited")
    assert notes_of(database_url, conn, sql, (limited["id"], limited["lease_token"])) == ["limited"]


def test_excess_slots_dropped_after_the_limit_is_lowered(
    conn: Conn, worker_id: UUID, database_url: str
) -> None:
    conn.execute("SELECT taskq.set_concurrency('shrink', 4)")
    rows = claimed(conn, worker_id, 4, "shrink")
    conn.execute("SELECT taskq.set_concurrency('shrink', 1)")
    assert one(conn, "SELECT excess FROM taskq.queues WHERE name = 'shrink'") == 3
    complete_many(conn, [r["id"] for r in rows[:2]], [r["lease_token"] for r in rows[:2]])
    assert one(conn, "SELECT excess FROM taskq.queues WHERE name = 'shrink'") == 1
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'shrink'") == 2
    # one slot left to drop, two tasks ending: one slot dropped, one freed
    fail_many(conn, [r["id"] for r in rows[2:]], [r["lease_token"] for r in rows[2:]], ["x", "y"])
    assert one(conn, "SELECT excess FROM taskq.queues WHERE name = 'shrink'") == 0
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'shrink'") == 1
    assert (
        one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'shrink' AND task_id IS NULL")
        == 1
    )


# --- fail_many ---------------------------------------------------------------------------------


def test_fail_many_as_fail_does_in_input_order(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('f', NULL)")
    retried = enqueue(conn, queue="f", max_attempts=3)
    spent = enqueue(conn, queue="f", max_attempts=1)
    asked = enqueue(conn, queue="f", max_attempts=3)
    backed = enqueue(conn, queue="f", max_attempts=3)
    rows = {r["id"]: r for r in lean_claim(conn, worker_id, queues=["f"], batch_size=4)}
    conn.execute("SELECT taskq.cancel(%s)", (asked,))
    order = [spent, backed, asked, retried]
    before = one(conn, "SELECT clock_timestamp()")
    out = fail_many(
        conn,
        order,
        [rows[i]["lease_token"] for i in order],
        ["e-spent", "e-backed", "e-asked", "e-retried"],
        [None, None, None, "10 seconds"],
    )
    after = one(conn, "SELECT clock_timestamp()")
    assert [r[0] for r in out] == order
    assert [r[1] for r in out] == ["FAILED", "QUEUED", "CANCELLED", "QUEUED"]
    by_id = {r[0]: r for r in out}
    assert before.timestamp() + 10 <= by_id[retried][2].timestamp() <= after.timestamp() + 10
    # backoff(1): 2 s times [0.75, 1.25)
    assert before.timestamp() + 1.5 <= by_id[backed][2].timestamp() <= after.timestamp() + 2.5
    for task_id, error in zip(order, ["e-spent", "e-backed", "e-asked", "e-retried"], strict=True):
        got = task(conn, task_id)
        assert got["scheduled_at"] == by_id[task_id][2]
        assert got["last_error"] == error
        assert [e["error"] for e in got["errors"]] == [error]
        assert got["lease_token"] is None
    assert task(conn, spent)["finished_at"] is not None
    assert task(conn, retried)["finished_at"] is None


def test_fail_many_refusals_change_nothing(conn: Conn, worker_id: UUID) -> None:
    a, b = claimed(conn, worker_id, 2)
    ids = [a["id"], b["id"]]
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as info:
        fail_many(conn, ids, [b["lease_token"], a["lease_token"]], ["x", "y"])
    assert str(a["id"]) in str(info.value)
    with raises_sqlstate("22023", "listed more than once"):
        fail_many(conn, [a["id"], a["id"]], [a["lease_token"], a["lease_token"]], ["x", "y"])
    with pytest.raises(psycopg.Error) as errors_null:
        fail_many(conn, ids, [a["lease_token"], b["lease_token"]], None)
    assert (errors_null.value.sqlstate, errors_null.value.diag.column_name) == ("22004", "errors")
    with pytest.raises(psycopg.Error) as short:
        fail_many(conn, ids, [a["lease_token"], b["lease_token"]], ["x"])
    assert (short.value.sqlstate, short.value.diag.column_name) == ("22023", "errors")
    with pytest.raises(psycopg.Error) as delays:
        fail_many(conn, ids, [a["lease_token"], b["lease_token"]], ["x", "y"], ["1 second"])
    assert (delays.value.sqlstate, delays.value.diag.column_name) == ("22023", "retry_delays")
    with pytest.raises(psycopg.Error) as negative:
        fail_many(conn, ids, [a["lease_token"], b["lease_token"]], ["x", "y"], [None, "-1 second"])
    assert (negative.value.sqlstate, negative.value.diag.column_name) == (
        "22023",
        "retry_delays[2]",
    )
    with pytest.raises(psycopg.Error) as far:
        fail_many(
            conn, ids, [a["lease_token"], b["lease_token"]], ["x", "y"], ["10000 years", None]
        )
    assert (far.value.sqlstate, far.value.diag.column_name) == ("22008", "retry_delays[1]")
    assert statuses(conn, ids) == ["RUNNING"] * 2
    assert [e for e in task(conn, a["id"])["errors"]] == []


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_claim_and_complete_many_hold_the_slots(conn: Conn, database_url: str) -> None:
    total, limit = 90, 3
    conn.execute("SELECT taskq.set_concurrency('lean', %s)", (limit,))
    conn.execute(
        "SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "t", "queue": "lean"}] * total),)
    )
    claimed_ids, peak, sampled_peak = drain(
        database_url, "lean", total, hold=0.01, batch_size=2, lean=True
    )
    counts = Counter(claimed_ids)
    assert len(counts) == total
    assert max(counts.values()) == 1, "a task was claimed twice"
    assert peak.peak <= limit
    assert sampled_peak <= limit
    assert peak.peak == limit, "the limit was never reached"
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'lean'") == limit
    done = "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED' AND result = '{\"ok\": 1}'"
    assert one(conn, done) == total
