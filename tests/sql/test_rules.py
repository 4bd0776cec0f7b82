"""taskq.rules states what the database enforces: its enum values, and each limit is the edge at
which the SQL function starts to refuse."""

from __future__ import annotations

import re

import pytest

from taskq import rules
from tests.sql.conftest import Conn, one, raises_sqlstate


@pytest.mark.parametrize(
    ("enum", "values"), [("taskq.priority", rules.PRIORITIES), ("taskq.status", rules.STATUSES)]
)
def test_the_enum_values_are_the_databases(conn: Conn, enum: str, values: tuple[str, ...]) -> None:
    rows = conn.execute(
        "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s::regtype ORDER BY enumsortorder",
        (enum,),
    ).fetchall()
    assert tuple(label for (label,) in rows) == values


def test_name_max_is_the_longest_name(conn: Conn) -> None:
    assert one(conn, "SELECT taskq._check_name(repeat('n', %s), 'name', 'name')", (rules.NAME_MAX,))
    with raises_sqlstate("22023", f"at most {rules.NAME_MAX} characters"):
        conn.execute(
            "SELECT taskq._check_name(repeat('n', %s), 'name', 'name')", (rules.NAME_MAX + 1,)
        )


@pytest.mark.parametrize("character", [" ", "\t", "\r", "\n", "\v", "\f", "\u00a0", "x", "é"])
def test_name_pattern_tells_blank_names_as_the_database_does(conn: Conn, character: str) -> None:
    name = character * 3
    if re.search(rules.NAME_PATTERN, name) is None:
        with raises_sqlstate("22023"):
            conn.execute("SELECT taskq._check_name(%s, 'name', 'name')", (name,))
    else:
        assert one(conn, "SELECT taskq._check_name(%s, 'name', 'name')", (name,)) is True


def test_concurrency_max_is_the_highest_limit(conn: Conn) -> None:
    max_ = rules.CONCURRENCY_MAX
    assert one(conn, "SELECT concurrency FROM taskq.set_concurrency('q', %s)", (max_,)) == max_
    with raises_sqlstate("22023", f"between 1 and {max_}"):
        conn.execute("SELECT taskq.set_concurrency('q', %s)", (max_ + 1,))


@pytest.mark.parametrize(
    "function", ["taskq.list_tasks", "taskq.list_tasks_page", "taskq.list_audit"]
)
def test_page_max_is_the_largest_page(conn: Conn, function: str) -> None:
    conn.execute(f"SELECT * FROM {function}(page_size => %s)", (rules.PAGE_MAX,))
    with raises_sqlstate("22023", f"between 1 and {rules.PAGE_MAX}"):
        conn.execute(f"SELECT * FROM {function}(page_size => %s)", (rules.PAGE_MAX + 1,))


def test_reason_and_actor_max_are_the_longest_accepted(conn: Conn) -> None:
    task_id = one(conn, "SELECT taskq.enqueue('x')")
    conn.execute("SELECT set_config('taskq.actor', repeat('a', %s), false)", (rules.ACTOR_MAX,))
    conn.execute("SELECT taskq.pause(%s, repeat('r', %s))", (task_id, rules.REASON_MAX))
    with raises_sqlstate("22001", f"at most {rules.REASON_MAX} characters"):
        conn.execute("SELECT taskq.pause(%s, repeat('r', %s))", (task_id, rules.REASON_MAX + 1))
    conn.execute("SELECT set_config('taskq.actor', repeat('a', %s), false)", (rules.ACTOR_MAX + 1,))
    with raises_sqlstate("22001", f"at most {rules.ACTOR_MAX} characters"):
        conn.execute("SELECT taskq.pause(%s)", (task_id,))
