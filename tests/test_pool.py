"""The shared connection pool: a connection that sat idle is checked before use (and replaced
when the server closed it); one handed back a moment ago is handed out without a round trip."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from taskq import client, decoding
from taskq import pool as taskq_pool


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the checks (each a round trip) that reach the server."""
    seen: list[int] = []
    original = AsyncConnectionPool.check_connection

    async def counting(conn: psycopg.AsyncConnection[Any]) -> None:
        seen.append(conn.info.backend_pid)
        await original(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counting))
    return seen


async def backend_pid(pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        return int(row[0])


async def test_a_connection_used_a_moment_ago_is_not_checked_again(
    database_url: str, checks: list[int]
) -> None:
    async with taskq_pool.make_pool(database_url, min_size=1, max_size=1) as pool:
        await pool.wait()
        first = await backend_pid(pool)
        for _ in range(20):
            assert await backend_pid(pool) == first
    # the first hand-out checks the connection the pool opened; the twenty after it do not
    assert checks == [first]


async def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(
    database_url: str, checks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(taskq_pool, "CHECK_IDLE_AFTER", 0.2)
    async with taskq_pool.make_pool(database_url, min_size=1, max_size=1) as pool:
        await pool.wait()
        first = await backend_pid(pool)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        await asyncio.sleep(0.3)
        second = await backend_pid(pool)
    assert second != first
    assert first in checks


JSON_VALUES = """SELECT '{"a": [1, 2.5, null, true, "x"], "b": {}}'::jsonb,
                         '["é", 12345678901234567890]'::json"""


async def test_pooled_connections_read_json_columns_as_python_values(database_url: str) -> None:
    async with (
        taskq_pool.make_pool(database_url, min_size=1, max_size=1) as pool,
        pool.connection() as conn,
    ):
        row = await (await conn.execute(JSON_VALUES)).fetchone()
    assert row == ({"a": [1, 2.5, None, True, "x"], "b": {}}, ["é", 12345678901234567890])


SPOIL = {
    "payload": """(repeat('{"a":', 3000) || '1' || repeat('}', 3000))::jsonb""",
    "scheduled_at": "'-infinity'",
    "created_at": "'0044-03-15 12:00:00+00 BC'",
    "result": """(repeat('[', 5000) || repeat(']', 5000))::jsonb""",
}


async def test_a_row_python_cannot_represent_does_not_spoil_the_page(database_url: str) -> None:
    # Written past the SQL functions, which refuse such values: one such row must not make
    # every list (GET /api/tasks, taskq ls, the worker's own) fail for everyone.
    async with (
        taskq_pool.make_pool(database_url, min_size=1, max_size=1) as pool,
        pool.connection() as conn,
    ):
        good = await client.enqueue(conn, "echo", {"good": True})
        spoiled = {}
        for column, value in SPOIL.items():
            task_id = await client.enqueue(conn, "echo", {"column": column})
            await conn.execute(
                f"UPDATE taskq.tasks SET {column} = {value} WHERE id = %s",
                (task_id,),
            )
            spoiled[column] = task_id
        page = await client.list_tasks(conn)
        one = await client.get_task(conn, spoiled["scheduled_at"])
        times = "SELECT '-infinity'::timestamptz, 'infinity'::timestamptz, now()"
        rows = [
            await (await conn.execute(times, binary=binary)).fetchone() for binary in (False, True)
        ]
    by_id = {task.id: task for task in page.items}
    assert len(page.items) == 1 + len(SPOIL)
    assert by_id[good].payload == {"good": True}
    assert by_id[good].undecodable == {}
    for column, task_id in spoiled.items():
        task = by_id[task_id]
        assert task.undecodable.keys() == {column}, column
    assert by_id[spoiled["payload"]].payload == {}  # a stand-in of the field's type
    assert by_id[spoiled["payload"]].undecodable["payload"].startswith("RecursionError: ")
    assert by_id[spoiled["result"]].result is None
    assert by_id[spoiled["result"]].payload == {"column": "result"}
    assert by_id[spoiled["created_at"]].created_at == datetime.min.replace(tzinfo=UTC)
    assert "too small" in by_id[spoiled["created_at"]].undecodable["created_at"]
    assert one.scheduled_at == datetime.min.replace(tzinfo=UTC)
    assert one.payload == {"column": "scheduled_at"}
    # a bare query, in text or binary format, sees the marker, with the nearest time Python
    # has as its stand-in, beside the times it decodes as ever
    for row in rows:
        assert row is not None
        earliest, latest, now = row
        assert isinstance(earliest, decoding.Undecodable)
        assert isinstance(latest, decoding.Undecodable)
        assert (earliest.placeholder, latest.placeholder) == (decoding.EARLIEST, decoding.LATEST)
        assert isinstance(now, datetime)
        assert now.tzinfo is not None
