"""Fixtures of the worker tests: an async connection to the test's database, and the parts'
database-call function and registration on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from taskq import pool
from worker.database import Database
from worker.registration import Registration


@pytest.fixture
async def aconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit async connection to the test's fresh database, decoding rows as the
    worker's pooled connections do."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        await pool.configure(connection)
        yield connection


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The worker's database-call function on the test's database, as the parts get it."""
    database = Database(database_url, size=4, connect_timeout=5, answers_lost=asyncio.Event())
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def registration(db: Database) -> Registration:
    """A worker registered in the test's database, serving ``default`` with any task name."""
    registered = Registration(
        db,
        name="test-part",
        queues=["default"],
        task_names=None,
        stopping=asyncio.Event(),
        connect_timeout=5,
    )
    assert await registered.register()
    return registered
