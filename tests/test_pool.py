"""The shared connection pool: a connection that sat idle is checked before use (and replaced
when the server closed it); one handed back a moment ago is handed out without a round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

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
