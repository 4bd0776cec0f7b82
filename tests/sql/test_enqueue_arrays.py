"""The array form of enqueue_many: taskq.enqueue_many(names, payloads, queues, priorities,
scheduled_ats, max_attempts), and taskq.client.enqueue_many, which calls it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from taskq import client
from taskq.errors import InvalidArgument
from tests.sql.conftest import Conn, one, raises_sqlstate, task

ARRAYS = (
    "SELECT id FROM taskq.enqueue_many(names => %(names)s::text[],"
    " payloads => %(payloads)s::jsonb[], queues => %(queues)s::text[],"
    " priorities => %(priorities)s::taskq.priority[],"
    " scheduled_ats => %(scheduled_ats)s::timestamptz[], max_attempts => %(max_attempts)s::int[])"
    " AS id"
)


def arguments(**given: Any) -> dict[str, Any]:
    """Every array argument of the call, NULL unless given."""
    names = ("names", "payloads", "queues", "priorities", "scheduled_ats", "max_attempts")
    return {**dict.fromkeys(names), **given}


def arrays(conn: Conn, **given: Any) -> list[UUID]:
    return [row[0] for row in conn.execute(ARRAYS, arguments(**given))]


def count(conn: Conn) -> int:
    return int(one(conn, "SELECT count(*) FROM taskq.tasks"))


def test_ids_in_input_order_and_every_argument(conn: Conn) -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    names = [f"t{i}" for i in range(300)]
    payloads: list[Any] = [Jsonb({"i": i}) for i in range(300)]
    queues: list[str | None] = [None] * 300
    priorities: list[str | None] = [None] * 300
    times: list[datetime | None] = [None] * 300
    attempts: list[int | None] = [None] * 300
    payloads[4], queues[5], priorities[5], times[7], attempts[5] = None, "other", "HIGH", at, 1
    ids = arrays(
        conn,
        names=names,
        payloads=payloads,
        queues=queues,
        priorities=priorities,
        scheduled_ats=times,
        max_attempts=attempts,
    )
    assert len(set(ids)) == len(ids) == 300
    assert ids == sorted(ids)
    by_id = dict(conn.execute("SELECT id, name FROM taskq.tasks").fetchall())
    assert [by_id[i] for i in ids] == names
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    first, fifth, sixth, eighth = (
        task(conn, ids[0]),
        task(conn, ids[4]),
        task(conn, ids[5]),
        task(conn, ids[7]),
    )
    assert (first["payload"], first["queue"], first["priority"], first["max_attempts"]) == (
        {"i": 0},
        "default",
        "MEDIUM",
        3,
    )
    assert first["scheduled_at"] == first["created_at"]
    assert fifth["payload"] == {}
    assert (sixth["queue"], sixth["priority"], sixth["max_attempts"]) == ("other", "HIGH", 1)
    assert eighth["scheduled_at"] == at
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'other'") == 2


def test_ids_carry_the_time_of_the_call(conn: Conn) -> None:
    before = one(conn, "SELECT clock_timestamp()")
    [made] = arrays(conn, names=["x"])
    after = one(conn, "SELECT clock_timestamp()")
    millis = int(made.hex[:12], 16)
    assert int(before.timestamp() * 1000) <= millis <= int(after.timestamp() * 1000)
    # ids of two calls differ in their random bits, not only in time
    [other] = arrays(conn, names=["x"])
    assert made.hex[16:] != other.hex[16:]


def test_null_arrays_and_elements_mean_the_defaults(conn: Conn) -> None:
    ids = arrays(conn, names=["a", "b"], payloads=None, queues=[None, "q2"], max_attempts=[None, 5])
    a, b = task(conn, ids[0]), task(conn, ids[1])
    assert (a["queue"], a["payload"], a["max_attempts"]) == ("default", {}, 3)
    assert (b["queue"], b["max_attempts"]) == ("q2", 5)


def test_positional_call_and_empty_arrays(conn: Conn) -> None:
    assert len(conn.execute("SELECT taskq.enqueue_many(ARRAY['a', 'b'], NULL)").fetchall()) == 2
    assert conn.execute("SELECT taskq.enqueue_many('{}'::text[], NULL)").fetchall() == []
    assert conn.execute("SELECT taskq.enqueue_many('{}'::text[], '{}')").fetchall() == []
    assert count(conn) == 2


@pytest.mark.parametrize(
    "call",
    [
        "SELECT taskq.enqueue_many(NULL)",
        "SELECT taskq.enqueue_many('{}')",
        "SELECT taskq.enqueue_many('[{\"name\": 5}]')",
    ],
)
def test_one_argument_means_the_json_form(conn: Conn, call: str) -> None:
    error = refusal(conn, call)
    assert error.sqlstate == "22023"
    assert "enqueue_many(jsonb)" in (error.diag.context or "")


def test_notifies_once_per_queue(conn: Conn, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN taskq")
        arrays(conn, names=["a", "b", "c", "d"], queues=["q1", "q2", "q1", None])
        notes = sorted(n.payload for n in listener.notifies(timeout=1, stop_after=10))
    assert notes == ["default", "q1", "q2"]


def refusal(conn: Conn, sql: str, params: Any = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql, params)
    return info.value


DEEP = "[" * 65 + "]" * 65


@pytest.mark.parametrize(
    ("given", "sqlstate", "column", "message"),
    [
        ({"names": None}, "22004", "names", "names must not be NULL"),
        ({"names": ["a", None]}, "22004", "names[2]", "task #2: name must not be NULL"),
        ({"names": ["a", " \t"]}, "22023", "names[2]", "task #2: name must not be empty"),
        ({"names": ["x" * 129]}, "22023", "names[1]", "at most 128 characters"),
        (
            {"names": ["a", "b"], "payloads": [None, Jsonb([1])]},
            "22023",
            "payloads[2]",
            "task #2: payload must be a JSON object, not array",
        ),
        (
            {"names": ["a"], "payloads": [Jsonb(None)]},
            "22023",
            "payloads[1]",
            "payload must be a JSON object, not null",
        ),
        (
            {"names": ["a"], "payloads": ['{"a": ' + DEEP + "}"]},
            "22023",
            "payloads[1]",
            "task #1: payload is nested deeper than 64 levels",
        ),
        ({"names": ["a", "b"], "queues": ["q", ""]}, "22023", "queues[2]", "task #2: queue name"),
        (
            {"names": ["a"], "scheduled_ats": ["infinity"]},
            "22008",
            "scheduled_ats[1]",
            "task #1: scheduled_at must be between 0001-01-01 and 9999-12-31 UTC",
        ),
        (
            {"names": ["a"], "scheduled_ats": ["0044-03-15 BC"]},
            "22008",
            "scheduled_ats[1]",
            "scheduled_at",
        ),
        (
            {"names": ["a", "b", "c"], "max_attempts": [1, 2, 0]},
            "22023",
            "max_attempts[3]",
            "task #3: max_attempts must be at least 1, not 0",
        ),
        ({"names": ["a", "b"], "payloads": ["{}"]}, "22023", "payloads", "payloads has 1"),
        ({"names": ["a"], "queues": ["q", "r"]}, "22023", "queues", "queues has 2"),
        ({"names": ["a"], "priorities": []}, "22023", "priorities", "priorities has 0"),
        ({"names": ["a"], "scheduled_ats": [None, None]}, "22023", "scheduled_ats", "has 2"),
        ({"names": ["a"], "max_attempts": [1, 1]}, "22023", "max_attempts", "max_attempts has 2"),
        ({"names": [["a"], ["b"]]}, "22023", "names", "one-dimensional"),
        ({"names": ["a"], "payloads": [["{}"]]}, "22023", "payloads", "one-dimensional"),
        ({"names": "[0:1]={a,b}"}, "22023", "names", "from subscript 1"),
    ],
)
def test_bad_arguments_are_refused_by_name_and_nothing_is_written(
    conn: Conn, given: dict[str, Any], sqlstate: str, column: str, message: str
) -> None:
    error = refusal(conn, ARRAYS, arguments(**given))
    assert (error.sqlstate, error.diag.column_name) == (sqlstate, column), str(error)
    assert message in str(error), str(error)
    assert count(conn) == 0
    assert one(conn, "SELECT count(*) FROM taskq.queues WHERE name IN ('q', 'r')") == 0


def test_the_first_bad_element_is_named(conn: Conn) -> None:
    error = refusal(conn, ARRAYS, arguments(names=["a", "b", "", "d"], max_attempts=[1, 1, 1, 0]))
    assert error.diag.column_name == "names[3]"


def test_a_bad_priority_is_the_enum_s_error(conn: Conn) -> None:
    with raises_sqlstate("22P02", "URGENT"):
        arrays(conn, names=["a"], priorities=["URGENT"])


# --- taskq.client.enqueue_many -------------------------------------------------------------------
def run(database_url: str, tasks: list[Any]) -> list[UUID]:
    async def go() -> list[UUID]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
            return await client.enqueue_many(aconn, tasks)

    return asyncio.run(go())


def test_client_enqueue_many(conn: Conn, database_url: str) -> None:
    at = datetime(2031, 5, 1, 12, tzinfo=UTC)
    tasks: list[Any] = [{"name": f"t{i}"} for i in range(50)]
    tasks[3] = {
        "name": "all",
        "payload": {"k": [1]},
        "queue": "c",
        "priority": "LOW",
        "scheduled_at": at,
        "max_attempts": 9,
    }
    tasks[4] = {"name": "text time", "scheduled_at": "2031-05-01T12:00:00Z", "payload": None}
    ids = run(database_url, tasks)
    assert len(ids) == 50
    assert ids == sorted(ids)
    row = task(conn, ids[3])
    assert (
        row["payload"],
        row["queue"],
        row["priority"],
        row["scheduled_at"],
        row["max_attempts"],
    ) == (
        {"k": [1]},
        "c",
        "LOW",
        at,
        9,
    )
    assert task(conn, ids[4])["scheduled_at"] == at
    assert [task(conn, i)["name"] for i in ids[:3]] == ["t0", "t1", "t2"]
    assert run(database_url, []) == []


@pytest.mark.parametrize(
    ("tasks", "sqlstate", "field"),
    [
        ([{"name": "x"}, {"name": ""}], "22023", "tasks[1].name"),
        ([{"name": "x"}, {}], "22004", "tasks[1].name"),
        ([{"name": "x", "payload": [1]}], "22023", "tasks[0].payload"),
        ([{"name": "x"}, {"name": "y", "queue": " "}], "22023", "tasks[1].queue"),
        ([{"name": "x", "max_attempts": 0}], "22023", "tasks[0].max_attempts"),
        ([{"name": "x", "scheduled_at": "infinity"}], "22008", "tasks[0].scheduled_at"),
        # what only the JSON form refuses by name
        ([{"name": "x"}, {"name": "y", "colour": "red"}], "22023", "tasks[1].colour"),
        ([{"name": "x"}, 3], "22023", "tasks[1]"),
        ([{"name": 5}], "22023", "tasks[0].name"),
        ([{"name": "x", "max_attempts": True}], "22023", "tasks[0].max_attempts"),
        # as the JSON form has always said it: a JSON number that is no integer
        ([{"name": "x", "max_attempts": 2.5}], "22P02", None),
    ],
)
def test_client_errors_name_the_task_and_key(
    conn: Conn, database_url: str, tasks: list[Any], sqlstate: str, field: str | None
) -> None:
    with pytest.raises(InvalidArgument) as info:
        run(database_url, tasks)
    assert (info.value.sqlstate, info.value.field) == (sqlstate, field), info.value.message
    assert count(conn) == 0
