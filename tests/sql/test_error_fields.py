"""Every error taskq raises says what it is about in the error's fields, not only its message:
COLUMN for a bad argument (class 22), TABLE and a JSON DETAIL for a task or worker (P0002,
55000). psycopg reads them as ``error.diag``; callers in any language read the same fields."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.sql.conftest import Conn, one

MISSING = "01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11"
DEEP = "[" * 70 + "]" * 70
# A RAISE EXCEPTION statement, up to the semicolon that ends it (outside quotes).
RAISE = re.compile(r"RAISE\s+EXCEPTION\s+(?:'(?:[^']|'')*'|[^;'])*;", re.IGNORECASE)


def call(function: str, argument: Any) -> str:
    """``SELECT taskq.function('<argument as JSON>')``."""
    return f"SELECT taskq.{function}('{json.dumps(argument)}')"


def test_every_raise_in_taskq_names_its_column_or_table(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text, p.prosrc FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'taskq'"
    ).fetchall()
    raises = [(name, statement) for name, source in rows for statement in RAISE.findall(source)]
    assert len(raises) > 25
    bare = [
        (name, statement)
        for name, statement in raises
        if not re.search(r"\b(COLUMN|TABLE)\s*=", statement, re.IGNORECASE)
    ]
    assert bare == []


def refusal(conn: Conn, sql: str, params: Any = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql, params)
    return info.value


@pytest.mark.parametrize(
    ("sql", "sqlstate", "column"),
    [
        ("SELECT taskq.enqueue(NULL)", "22004", "name"),
        ("SELECT taskq.enqueue(' ')", "22023", "name"),
        ("SELECT taskq.enqueue('x', payload => '[]')", "22023", "payload"),
        (f"SELECT taskq.enqueue('x', payload => '{{\"a\": {DEEP}}}')", "22023", "payload"),
        ("SELECT taskq.enqueue('x', max_attempts => 0)", "22023", "max_attempts"),
        ("SELECT taskq.enqueue('x', scheduled_at => 'infinity')", "22008", "scheduled_at"),
        ("SELECT taskq.enqueue('x', queue => '')", "22023", "queue"),
        ("SELECT taskq.enqueue_many('{}')", "22023", "tasks"),
        (call("enqueue_many", [{"name": "x"}, 3]), "22023", "tasks[1]"),
        (call("enqueue_many", [{"name": "x", "colour": 1}]), "22023", "tasks[0].colour"),
        (call("enqueue_many", [{"name": 5}]), "22023", "tasks[0].name"),
        (call("enqueue_many", [{"name": "x"}, {}]), "22004", "tasks[1].name"),
        (call("enqueue_many", [{"name": "x", "queue": " "}]), "22023", "tasks[0].queue"),
        (call("enqueue_many", [{"name": "x", "max_attempts": 0}]), "22023",
         "tasks[0].max_attempts"),
        (call("enqueue_many", [{"name": "x", "scheduled_at": "infinity"}]), "22008",
         "tasks[0].scheduled_at"),
        ("SELECT taskq.set_concurrency('q', 0)", "22023", "concurrency"),
        ("SELECT taskq.list_tasks(page_size => 0)", "22023", "page_size"),
        ("SELECT taskq.claim_next(gen_random_uuid(), batch_size => 0)", "22023", "batch_size"),
        ("SELECT taskq.claim_next(gen_random_uuid(), lease => '0s')", "22023", "lease"),
        ("SELECT taskq.claim_next(gen_random_uuid(), lease => '10000 years')", "22008", "lease"),
        ("SELECT taskq.heartbeat(gen_random_uuid(), '-1s')", "22023", "lease"),
        ("SELECT taskq.register_worker('')", "22023", "name"),
        ("SELECT taskq.register_worker('w', task_names => ARRAY[''])", "22023", "task_names"),
        ("SELECT taskq.backoff(0)", "22023", "attempt"),
        ("SELECT taskq.backoff(NULL)", "22004", "attempt"),
        ("SELECT taskq.uuid_v7('1960-01-01')", "22008", "at"),
        (f"SELECT taskq.complete('{MISSING}', gen_random_uuid(), '{DEEP}')", "22023", "result"),
        (f"SELECT taskq.fail('{MISSING}', gen_random_uuid(), 'e', '-1s')", "22023", "retry_delay"),
        (f"SELECT taskq.fail('{MISSING}', gen_random_uuid(), 'e', '10000 years')", "22008",
         "retry_delay"),
        ("SELECT taskq.complete_many('{}')", "22023", "results"),
        (call("complete_many", [{"task_id": "a"}]), "22023", "results[0].lease_token"),
        ("SELECT taskq.fail_many('[1]')", "22023", "failures[0]"),
        (call("fail_many", [{"task_id": "a", "lease_token": "b", "error": "e", "x": 1}]), "22023",
         "failures[0].x"),
    ],
)  # fmt: skip
def test_a_bad_argument_names_its_parameter_in_column(
    conn: Conn, sql: str, sqlstate: str, column: str
) -> None:
    error = refusal(conn, sql)
    assert (error.sqlstate, error.diag.column_name) == (sqlstate, column), str(error)


def test_an_item_of_a_batch_names_its_position(conn: Conn) -> None:
    token = "00000000-0000-7000-8000-000000000000"
    items = [{"task_id": MISSING, "lease_token": token, "error": "e", "retry_delay": "1s"}] * 2
    items = [items[0], {**items[1], "task_id": token, "retry_delay": "-1s"}]
    error = refusal(conn, "SELECT taskq.fail_many(%s)", (json.dumps(items),))
    assert error.diag.column_name == "failures[1].retry_delay"
    results = [{"task_id": MISSING, "lease_token": token}, {"task_id": token, "lease_token": token}]
    results[1]["result"] = json.loads(DEEP)
    error = refusal(conn, "SELECT taskq.complete_many(%s)", (json.dumps(results),))
    assert error.diag.column_name == "results[1].result"


def test_a_missing_task_is_named_in_table_and_detail(conn: Conn) -> None:
    for sql in [
        "SELECT taskq.get_task(%s)",
        "SELECT taskq.pause(%s)",
        "SELECT taskq.cancel(%s)",
        "SELECT taskq.complete(%s, gen_random_uuid())",
    ]:
        error = refusal(conn, sql, (MISSING,))
        assert error.sqlstate == "P0002"
        assert error.diag.table_name == "tasks"
        assert json.loads(error.diag.message_detail or "") == {"task_id": MISSING}


def test_a_refused_transition_names_the_task_and_its_status(conn: Conn) -> None:
    task_id = one(conn, "SELECT taskq.enqueue('x')")
    conn.execute("SELECT taskq.cancel(%s)", (task_id,))
    for sql in ["SELECT taskq.pause(%s)", "SELECT taskq.complete(%s, gen_random_uuid())"]:
        error = refusal(conn, sql, (task_id,))
        assert error.sqlstate == "55000"
        assert error.diag.table_name == "tasks"
        detail = json.loads(error.diag.message_detail or "")
        assert detail == {"task_id": str(task_id), "status": "CANCELLED"}


def test_an_unknown_worker_is_named_in_table_and_detail(conn: Conn) -> None:
    worker = UUID(MISSING)
    for sql in [
        "SELECT taskq.claim_next(%s)",
        "SELECT taskq.heartbeat(%s)",
        "SELECT taskq.unregister_worker(%s)",
    ]:
        error = refusal(conn, sql, (worker,))
        assert error.sqlstate == "P0002"
        assert error.diag.table_name == "workers"
        assert json.loads(error.diag.message_detail or "") == {"worker_id": MISSING}
