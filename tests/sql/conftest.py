"""Helpers for the SQL layer: call the functions, assert rows and SQLSTATEs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

Conn = psycopg.Connection[Any]


@contextmanager
def raises_sqlstate(sqlstate: str, match: str | None = None) -> Iterator[None]:
    """The block raises a database error with this SQLSTATE (and a message containing match)."""
    with pytest.raises(psycopg.Error) as info:
        yield
    assert info.value.sqlstate == sqlstate, f"{info.value.sqlstate}: {info.value}"
    if match is not None:
        assert match in str(info.value), str(info.value)


def one(conn: Conn, sql: str, params: Any = None) -> Any:
    """The single value of a one-row, one-column query."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def task(conn: Conn, task_id: UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM taskq.get_task(%s)", (task_id,)).fetchone()
    assert row is not None
    return row


def claim(conn: Conn, worker_id: UUID, **kwargs: Any) -> list[dict[str, Any]]:
    names = ", ".join(f"{key} => %({key})s" for key in kwargs)
    sql = f"SELECT * FROM taskq.claim_next(%(worker_id)s{', ' + names if names else ''})"
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, {"worker_id": worker_id, **kwargs}).fetchall()


def enqueue(conn: Conn, name: str = "job", **kwargs: Any) -> UUID:
    names = ", ".join(f"{key} => %({key})s" for key in kwargs)
    sql = f"SELECT taskq.enqueue(%(name)s{', ' + names if names else ''})"
    value = one(conn, sql, {"name": name, **kwargs})
    assert isinstance(value, UUID)
    return value


@pytest.fixture
def worker_id(conn: Conn) -> UUID:
    value = one(conn, "SELECT taskq.register_worker('test-worker')")
    assert isinstance(value, UUID)
    return value
