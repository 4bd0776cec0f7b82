"""complete_and_claim: complete_many and then claim in one transaction.

The slots the completions free go to the claim of the same call; a refusal of either part
changes nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, enqueue, one, raises_sqlstate, task
from tests.sql.test_concurrency import drain
from tests.sql.test_lean_calls import CLAIMED_COLUMNS, MISSING, claimed, lean_claim


def complete_and_claim(
    conn: Conn, ids: Any, tokens: Any, results: Any, worker_id: UUID, **kwargs: Any
) -> list[dict[str, Any]]:
    names = "".join(f", {key} => %({key})s" for key in kwargs)
    cur = conn.execute(
        "SELECT * FROM taskq.complete_and_claim(%(ids)s::uuid[], %(tokens)s::uuid[],"
        f" %(results)s::jsonb[], %(worker_id)s{names})",
        {"ids": ids, "tokens": tokens, "results": results, "worker_id": worker_id, **kwargs},
    )
    columns = [c.name for c in cur.description or []]
    assert columns == CLAIMED_COLUMNS
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def slot_holders(conn: Conn, queue: str) -> list[UUID | None]:
    rows = conn.execute(
        "SELECT task_id FROM taskq.slots WHERE queue = %s ORDER BY id", (queue,)
    ).fetchall()
    return [row[0] for row in rows]


def test_the_freed_slot_goes_to_the_next_task_in_the_same_call(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('one', 1)")
    [first] = claimed(conn, worker_id, 1, "one")
    later = [enqueue(conn, queue="one", payload=Jsonb({"n": n})) for n in range(3)]
    assert lean_claim(conn, worker_id, queues=["one"], batch_size=3) == [], "the slot is held"
    [nxt] = complete_and_claim(
        conn, [first["id"]], [first["lease_token"]], ['{"ok": true}'], worker_id,
        queues=["one"], batch_size=3,
    )  # fmt: skip
    assert nxt["id"] == later[0]
    assert nxt["payload"] == {"n": 0}
    done = task(conn, first["id"])
    assert (done["status"], done["result"], done["lease_token"]) == (
        "COMPLETED",
        {"ok": True},
        None,
    )
    running = task(conn, nxt["id"])
    assert running["status"] == "RUNNING"
    assert running["worker_id"] == worker_id
    assert running["lease_token"] == nxt["lease_token"]
    assert slot_holders(conn, "one") == [nxt["id"]]
    assert [task(conn, i)["status"] for i in later[1:]] == ["QUEUED", "QUEUED"]


def test_matches_by_position_and_claims_what_claim_would(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('pos', 3)")
    rows = claimed(conn, worker_id, 3, "pos")
    for n in range(4):
        enqueue(conn, queue="pos", payload=Jsonb({"later": n}))
    enqueue(conn, queue="pos", payload=Jsonb({"later": 4}), priority="HIGH")
    order = [2, 0, 1]
    got = complete_and_claim(
        conn,
        [rows[i]["id"] for i in order],
        [rows[i]["lease_token"] for i in order],
        [f'{{"i": {i}}}' for i in order],
        worker_id,
        queues=["pos"],
        batch_size=10,
    )
    # three slots freed: the HIGH task first, then the oldest
    assert [r["payload"] for r in got] == [{"later": 4}, {"later": 0}, {"later": 1}]
    assert [task(conn, r["id"])["result"] for r in rows] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert Counter(slot_holders(conn, "pos")) == Counter(r["id"] for r in got)


def test_a_refused_completion_claims_nothing(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('refuse', 2)")
    rows = claimed(conn, worker_id, 2, "refuse")
    waiting = enqueue(conn, queue="refuse")
    ids = [r["id"] for r in rows]
    tokens = [rows[0]["lease_token"], MISSING]
    with raises_sqlstate("55000", "complete_many changed nothing"):
        complete_and_claim(conn, ids, tokens, None, worker_id, queues=["refuse"], batch_size=2)
    assert [task(conn, i)["status"] for i in ids] == ["RUNNING", "RUNNING"]
    assert task(conn, waiting)["status"] == "QUEUED"
    assert Counter(slot_holders(conn, "refuse")) == Counter(ids)


@pytest.mark.parametrize(
    ("change", "sqlstate", "column"),
    [
        ({"batch_size": 0}, "22023", "batch_size"),
        ({"batch_size": None}, "22023", "batch_size"),
        ({"lease": "-1 second"}, "22023", "lease"),
        ({"worker_id": MISSING}, "P0002", None),
        ({"ids": None}, "22004", "task_ids"),
        ({"tokens": "twice"}, "22023", "task_ids"),
        ({"results": ["{}"]}, "22023", "results"),
    ],
)
def test_bad_arguments_change_nothing(
    conn: Conn, worker_id: UUID, change: dict[str, Any], sqlstate: str, column: str | None
) -> None:
    conn.execute("SELECT taskq.set_concurrency('bad', 2)")
    rows = claimed(conn, worker_id, 2, "bad")
    waiting = enqueue(conn, queue="bad")
    args: dict[str, Any] = {
        "ids": [r["id"] for r in rows],
        "tokens": [r["lease_token"] for r in rows],
        "results": None,
        "worker_id": worker_id,
        "batch_size": 2,
        "lease": "30 seconds",
    }
    args.update(change)
    if args["tokens"] == "twice":  # one task listed twice
        args["ids"] = [rows[0]["id"], rows[0]["id"]]
        args["tokens"] = [rows[0]["lease_token"], rows[0]["lease_token"]]
    with pytest.raises(psycopg.Error) as info:
        complete_and_claim(
            conn, args["ids"], args["tokens"], args["results"], args["worker_id"],
            queues=["bad"], lease=args["lease"], batch_size=args["batch_size"],
        )  # fmt: skip
    assert info.value.sqlstate == sqlstate, str(info.value)
    assert info.value.diag.column_name == column
    assert [task(conn, r["id"])["status"] for r in rows] == ["RUNNING", "RUNNING"]
    assert task(conn, waiting)["status"] == "QUEUED"


def test_empty_arrays_only_claim(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('empty', 2)")
    waiting = enqueue(conn, queue="empty")
    got = complete_and_claim(conn, [], [], [], worker_id, queues=["empty"], batch_size=5)
    assert [r["id"] for r in got] == [waiting]
    assert complete_and_claim(conn, [], [], None, worker_id, queues=["empty"]) == []


def test_excess_slots_are_dropped_before_the_claim(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('shrink', 3)")
    rows = claimed(conn, worker_id, 3, "shrink")
    for _ in range(4):
        enqueue(conn, queue="shrink")
    conn.execute("SELECT taskq.set_concurrency('shrink', 2)")
    ids = [r["id"] for r in rows]
    tokens = [r["lease_token"] for r in rows]
    # one slot to drop: the first task's slot goes, nothing is free to claim
    assert complete_and_claim(conn, ids[:1], tokens[:1], None, worker_id, queues=["shrink"]) == []
    assert one(conn, "SELECT excess FROM taskq.queues WHERE name = 'shrink'") == 0
    assert len(slot_holders(conn, "shrink")) == 2
    # the second task's slot is freed and taken again at once
    [nxt] = complete_and_claim(
        conn, ids[1:2], tokens[1:2], None, worker_id, queues=["shrink"], batch_size=4
    )
    assert Counter(slot_holders(conn, "shrink")) == Counter([ids[2], nxt["id"]])


def test_other_task_names_wait(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('names', 1)")
    [first] = claimed(conn, worker_id, 1, "names")
    other = enqueue(conn, "other", queue="names")
    mine = enqueue(conn, "job", queue="names")
    [got] = complete_and_claim(
        conn, [first["id"]], [first["lease_token"]], None, worker_id,
        queues=["names"], names=["job"], batch_size=2,
    )  # fmt: skip
    assert got["id"] == mine
    assert task(conn, other)["status"] == "QUEUED"


@pytest.mark.parametrize("limit", [1, 3])
def test_slots_hold_when_claimers_report_and_claim_at_once(
    conn: Conn, database_url: str, limit: int
) -> None:
    total = 60
    conn.execute("SELECT taskq.set_concurrency('combined', %s)", (limit,))
    conn.execute(
        "SELECT taskq.enqueue_many(%s)", (Jsonb([{"name": "t", "queue": "combined"}] * total),)
    )
    ids, peak, sampled_peak = drain(
        database_url, "combined", total, hold=0.01, batch_size=2, combined=True
    )
    counts = Counter(ids)
    assert len(counts) == total
    assert max(counts.values()) == 1, "a task was claimed twice"
    assert peak.peak <= limit
    assert sampled_peak <= limit
    assert one(conn, "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED'") == total
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE task_id IS NOT NULL") == 0
