"""taskq.tasks.trace_context: the W3C trace context an enqueue stores, its one rule
(taskq._check_trace_context) in every enqueue form and in the column's CHECK, and the claim that
hands it to the worker."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.sql.conftest import Conn, enqueue, one, raises_sqlstate, task

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
GOOD = [
    {"traceparent": TRACEPARENT},
    {"traceparent": TRACEPARENT, "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "tracestate": ""},
    {"traceparent": TRACEPARENT, "tracestate": "k=" + "v" * 510},
]
# each bad value and a part of what the error says of it
BAD: list[tuple[Any, str]] = [
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "must be a JSON object"),
    ([TRACEPARENT], "must be a JSON object"),
    ({}, "traceparent must be a JSON string, not missing"),
    ({"tracestate": "a=b"}, "traceparent must be a JSON string, not missing"),
    ({"traceparent": None}, "traceparent must be a JSON string, not null"),
    ({"traceparent": 5}, "traceparent must be a JSON string, not number"),
    ({"traceparent": "garbage"}, "must be a W3C traceparent"),
    ({"traceparent": TRACEPARENT.upper()}, "must be a W3C traceparent"),
    ({"traceparent": "01" + TRACEPARENT[2:]}, "must be a W3C traceparent"),
    ({"traceparent": TRACEPARENT + "-extra"}, "must be a W3C traceparent"),
    ({"traceparent": TRACEPARENT + "\n"}, "must be a W3C traceparent"),
    ({"traceparent": "x" * 100_000}, "must be a W3C traceparent"),
    ({"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"}, "trace id of all zeros"),
    ({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01"}, "parent id"),
    ({"traceparent": TRACEPARENT, "tracestate": "k=" + "v" * 511}, "at most 512 characters"),
    ({"traceparent": TRACEPARENT, "tracestate": 7}, "tracestate must be a JSON string"),
    ({"traceparent": TRACEPARENT, "tracestate": None}, "tracestate must be a JSON string"),
    ({"traceparent": TRACEPARENT, "baggage": "a=b"}, 'unknown key "baggage"'),
    ({"traceparent": TRACEPARENT, "a": {"b": [1] * 10}}, 'unknown key "a"'),
]


def lean_claim(conn: Conn, worker_id: UUID) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM taskq.claim(%s, batch_size => 10)", (worker_id,)
        ).fetchall()


@pytest.mark.parametrize("context", GOOD)
def test_every_form_stores_a_good_trace_context(conn: Conn, context: dict[str, str]) -> None:
    single = enqueue(conn, trace_context=Jsonb(context))
    from_json = one(
        conn,
        "SELECT id FROM taskq.enqueue_many(%s)",
        (Jsonb([{"name": "job", "trace_context": context}]),),
    )
    from_arrays = one(
        conn,
        "SELECT id FROM taskq.enqueue_many(ARRAY['job'], ARRAY['{}'::jsonb], trace_contexts => %s)",
        ([Jsonb(context)],),
    )
    for task_id in (single, from_json, from_arrays):
        assert task(conn, task_id)["trace_context"] == context
        assert one(conn, "SELECT trace_context FROM taskq.task_info WHERE id = %s", (task_id,)) == (
            context
        )


def test_no_trace_context_is_null(conn: Conn) -> None:
    ids = [
        enqueue(conn),
        enqueue(conn, trace_context=None),
        one(conn, 'SELECT id FROM taskq.enqueue_many(\'[{"name": "job"}]\')'),
        one(
            conn, 'SELECT id FROM taskq.enqueue_many(\'[{"name": "job", "trace_context": null}]\')'
        ),
        one(conn, "SELECT id FROM taskq.enqueue_many(ARRAY['job'], ARRAY['{}'::jsonb])"),
        one(
            conn,
            "SELECT id FROM taskq.enqueue_many(ARRAY['job', 'job'], ARRAY['{}'::jsonb, '{}'],"
            " trace_contexts => ARRAY[NULL, %s::jsonb])",
            (Jsonb({"traceparent": TRACEPARENT}),),
        ),
    ]
    assert [task(conn, task_id)["trace_context"] for task_id in ids] == [None] * len(ids)


@pytest.mark.parametrize(("value", "says"), BAD)
def test_enqueue_refuses_a_bad_trace_context_by_name(conn: Conn, value: Any, says: str) -> None:
    with pytest.raises(psycopg.Error) as info:
        enqueue(conn, trace_context=Jsonb(value))
    assert info.value.sqlstate == "22023", info.value
    assert str(info.value).startswith("trace_context "), info.value
    assert says in str(info.value)
    assert info.value.diag.column_name == "trace_context"


@pytest.mark.parametrize(("value", "says"), BAD)
def test_enqueue_many_refuses_a_bad_trace_context_by_position(
    conn: Conn, value: Any, says: str
) -> None:
    tasks = [{"name": "job"}, {"name": "job", "trace_context": value}]
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT * FROM taskq.enqueue_many(%s)", (Jsonb(tasks),))
    assert info.value.sqlstate == "22023", info.value
    assert info.value.diag.column_name == "tasks[1].trace_context"
    if isinstance(value, dict):
        assert str(info.value).startswith("task #2: trace_context "), info.value
        assert says in str(info.value)
    else:  # the JSON form refuses a value of another JSON type before its shape
        assert "task #2: trace_context must be a JSON object, not" in str(info.value)
    conn.rollback()
    with pytest.raises(psycopg.Error) as info:
        conn.execute(
            "SELECT * FROM taskq.enqueue_many(ARRAY['job', 'job'], ARRAY['{}'::jsonb, '{}'],"
            " trace_contexts => ARRAY[NULL, %s::jsonb])",
            (Jsonb(value),),
        )
    assert info.value.sqlstate == "22023", info.value
    assert info.value.diag.column_name == "trace_contexts[2]"
    assert str(info.value).startswith("task #2: trace_context "), info.value
    assert says in str(info.value)
    conn.rollback()
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 0


def test_the_column_check_is_the_same_rule(conn: Conn) -> None:
    """A row written around enqueue meets the CHECK, which calls the same function."""
    conn.execute("SELECT taskq.set_concurrency('default', 2)")
    for value, _ in BAD:
        with raises_sqlstate("23514", "tasks_trace_context_shape"):
            conn.execute(
                "INSERT INTO taskq.tasks (queue, name, trace_context) VALUES ('default', 'x', %s)",
                (Jsonb(value),),
            )
        conn.rollback()
    assert one(conn, "SELECT taskq._check_trace_context(%s)", (Jsonb(GOOD[1]),)) is None
    assert one(conn, "SELECT taskq._check_trace_context(NULL)") is None


def test_claim_and_held_claims_hand_over_the_trace_context(conn: Conn, worker_id: UUID) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    traced = enqueue(conn, trace_context=Jsonb(GOOD[1]))
    plain = enqueue(conn)
    claimed = {row["id"]: row for row in lean_claim(conn, worker_id)}
    assert claimed[traced]["trace_context"] == GOOD[1]
    assert claimed[plain]["trace_context"] is None
    with conn.cursor(row_factory=dict_row) as cur:
        held = cur.execute("SELECT * FROM taskq.held_claims(%s)", (worker_id,)).fetchall()
    assert {row["id"]: row["trace_context"] for row in held} == {traced: GOOD[1], plain: None}


def test_the_check_calls_no_function_for_a_task_without_a_trace_context(conn: Conn) -> None:
    # a CHECK runs on every UPDATE of a task (claim, heartbeat, outcome): the rule's function
    # must not run for the rows that have no trace context
    conn.execute("SET track_functions = 'all'")
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO taskq.tasks (queue, name) SELECT 'default', 'job' FROM generate_series(1, 50)"
    )
    conn.execute("UPDATE taskq.tasks SET attempts = attempts + 1")
    count = (
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
        " WHERE schemaname = 'taskq' AND funcname = '_check_trace_context'"
    )
    without = conn.execute(count).fetchone()
    # and it does run for a row that has one: the count is the function's
    conn.execute(
        "UPDATE taskq.tasks SET trace_context = %s WHERE id = (SELECT id FROM taskq.tasks LIMIT 1)",
        (Jsonb({"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}),),
    )
    with_one = conn.execute(count).fetchone()
    conn.execute("ROLLBACK")
    assert without == (0,)
    assert with_one is not None
    assert with_one[0] >= 1
