from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, enqueue, one, raises_sqlstate, task


def test_defaults(conn: Conn) -> None:
    task_id = enqueue(conn, "email")
    row = task(conn, task_id)
    assert row["name"] == "email"
    assert row["queue"] == "default"
    assert row["payload"] == {}
    assert row["priority"] == "MEDIUM"
    assert row["status"] == "QUEUED"
    assert row["attempts"] == 0
    assert row["max_attempts"] == 3
    assert row["scheduled_at"] == row["created_at"]
    assert row["lease_token"] is None


def test_named_parameters_and_all_arguments(conn: Conn) -> None:
    at = datetime(2030, 1, 1, 10, tzinfo=UTC)
    task_id = one(
        conn,
        "SELECT taskq.enqueue('email', priority => 'HIGH', payload => %s, scheduled_at => %s,"
        " queue => 'mail', max_attempts => 5)",
        (Jsonb({"to": "a@example.com"}), at),
    )
    row = task(conn, task_id)
    assert (row["priority"], row["queue"], row["max_attempts"]) == ("HIGH", "mail", 5)
    assert row["payload"] == {"to": "a@example.com"}
    assert row["scheduled_at"] == at


def test_search_path_call(conn: Conn) -> None:
    conn.execute("SET search_path = taskq, public")
    task_id = one(conn, "SELECT enqueue('x')")
    assert one(conn, "SELECT status FROM get_task(%s)", (task_id,)) == "QUEUED"


def test_null_arguments_other_than_name_mean_the_default(conn: Conn) -> None:
    task_id = one(
        conn,
        "SELECT taskq.enqueue('x', payload => NULL, priority => NULL, scheduled_at => NULL,"
        " queue => NULL, max_attempts => NULL)",
    )
    row = task(conn, task_id)
    assert (row["payload"], row["priority"], row["queue"], row["max_attempts"]) == (
        {},
        "MEDIUM",
        "default",
        3,
    )


def test_new_queue_is_created_with_two_slots(conn: Conn) -> None:
    enqueue(conn, queue="reports")
    assert one(conn, "SELECT concurrency FROM taskq.queues WHERE name = 'reports'") == 2
    assert one(conn, "SELECT count(*) FROM taskq.slots WHERE queue = 'reports'") == 2


@pytest.mark.parametrize(
    ("call", "sqlstate", "message"),
    [
        ("SELECT taskq.enqueue('')", "22023", "name must not be empty"),
        ("SELECT taskq.enqueue('   ')", "22023", "name must not be empty"),
        ("SELECT taskq.enqueue(NULL)", "22004", "name must not be NULL"),
        (
            "SELECT taskq.enqueue('x', max_attempts => 0)",
            "22023",
            "max_attempts must be at least 1",
        ),
        (
            "SELECT taskq.enqueue('x', max_attempts => -3)",
            "22023",
            "max_attempts must be at least 1",
        ),
        ("SELECT taskq.enqueue('x', priority => 'URGENT')", "22P02", "taskq.priority"),
        (
            "SELECT taskq.enqueue('x', payload => '[1, 2]')",
            "22023",
            "payload must be a JSON object",
        ),
        ("SELECT taskq.enqueue('x', payload => '42')", "22023", "payload must be a JSON object"),
        ("SELECT taskq.enqueue('x', payload => 'null')", "22023", "payload must be a JSON object"),
        ("SELECT taskq.enqueue('x', scheduled_at => 'soon')", "22007", "soon"),
        ("SELECT taskq.enqueue('x', queue => '')", "22023", "queue name"),
    ],
)
def test_bad_arguments(conn: Conn, call: str, sqlstate: str, message: str) -> None:
    with raises_sqlstate(sqlstate, message):
        conn.execute(call)
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 0


# every argument bad at once, then one fewer bad each time: the first bad one is the one named
ALL_BAD = {
    "name": "''",
    "scheduled_at": "'0001-01-01 00:00:00+00'::timestamptz - interval '1 day'",
    "unique_for": "interval '-1 day'",
    "trace_context": '\'{"traceparent": "nonsense"}\'',
    "queue": "'   '",
}
NAMED = [
    ("name", "22023", "name must not be empty"),
    ("scheduled_at", "22008", "scheduled_at"),
    ("unique_for", "22023", "unique_for"),
    ("trace_context", "22023", "trace_context"),
    ("queue", "22023", "queue name"),
]


@pytest.mark.parametrize("first", range(len(NAMED)))
def test_the_first_bad_argument_is_the_one_named(conn: Conn, first: int) -> None:
    good = {"name": "'x'"}
    arguments = {
        key: ALL_BAD[key] if index >= first else good.get(key, "NULL")
        for index, (key, _, _) in enumerate(NAMED)
    }
    arguments["unique_key"] = "'k'"  # good, and a unique_for is taken only beside a key
    call = "SELECT taskq.enqueue(" + ", ".join(f"{k} => {v}" for k, v in arguments.items()) + ")"
    _, sqlstate, message = NAMED[first]
    with raises_sqlstate(sqlstate, message):
        conn.execute(call)


def test_an_id_is_a_uuid_v7_of_the_enqueue(conn: Conn) -> None:
    before = one(conn, "SELECT clock_timestamp()")
    ids = [enqueue(conn, "x"), enqueue(conn, "x", unique_key="k")]
    after = one(conn, "SELECT clock_timestamp()")
    assert ids == sorted(ids)
    for task_id in ids:
        assert task_id.version == 7
        millis = int(task_id.hex[:12], 16)
        assert int(before.timestamp() * 1000) <= millis <= int(after.timestamp() * 1000)


def test_enqueue_notifies_the_queue(conn: Conn, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN taskq")
        enqueue(conn, queue="mail")
        notes = list(listener.notifies(timeout=2, stop_after=1))
    assert [(n.channel, n.payload) for n in notes] == [("taskq", "mail")]


def test_enqueue_many_returns_ids_in_input_order(conn: Conn) -> None:
    tasks: list[dict[str, object]] = [{"name": f"t{i}", "payload": {"i": i}} for i in range(300)]
    tasks[5] = {"name": "hi", "priority": "HIGH", "queue": "other", "max_attempts": 1}
    tasks[7] = {"name": "later", "scheduled_at": "2030-01-01T00:00:00Z"}
    ids = [row[0] for row in conn.execute("SELECT id FROM taskq.enqueue_many(%s)", (Jsonb(tasks),))]
    assert len(ids) == 300
    assert ids == sorted(ids)
    names = dict(conn.execute("SELECT id, name FROM taskq.tasks").fetchall())
    assert [names[i] for i in ids] == [t["name"] for t in tasks]
    hi = task(conn, ids[5])
    assert (hi["priority"], hi["queue"], hi["max_attempts"]) == ("HIGH", "other", 1)
    assert task(conn, ids[7])["scheduled_at"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert task(conn, ids[0])["payload"] == {"i": 0}


def test_enqueue_many_empty_array(conn: Conn) -> None:
    assert conn.execute("SELECT taskq.enqueue_many('[]')").fetchall() == []


@pytest.mark.parametrize(
    ("tasks", "sqlstate", "message"),
    [
        ({"name": "x"}, "22023", "JSON array"),
        (
            [{"name": "x"}, {"name": "y", "colour": "red"}],
            "22023",
            'task #2 has an unknown key "colour"',
        ),
        ([{"name": "x"}, 3], "22023", "task #2 must be a JSON object"),
        ([{"name": "x"}, {"name": ""}], "22023", "task #2: name must not be empty"),
        ([{"payload": {}}], "22004", "task #1: name must not be NULL"),
        ([{"name": "x", "max_attempts": 0}], "22023", "task #1: max_attempts must be at least 1"),
        ([{"name": "x", "payload": [1]}], "22023", "task #1: payload must be a JSON object"),
        ([{"name": "x", "priority": "URGENT"}], "22P02", "URGENT"),
        ([{"name": "x", "scheduled_at": "tomorrow-ish"}], "22007", "tomorrow-ish"),
    ],
)
def test_enqueue_many_is_all_or_nothing(
    conn: Conn, tasks: object, sqlstate: str, message: str
) -> None:
    with raises_sqlstate(sqlstate, message):
        conn.execute("SELECT taskq.enqueue_many(%s)", (Jsonb(tasks),))
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 0


def test_enqueue_many_null(conn: Conn) -> None:
    with raises_sqlstate("22023", "JSON array"):
        conn.execute("SELECT taskq.enqueue_many(NULL)")
