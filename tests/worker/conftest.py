"""Fixtures of the worker tests: an async connection to the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from taskq import pool


@pytest.fixture
async def aconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit async connection to the test's fresh database, decoding rows as the
    worker's pooled connections do."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        await pool.configure(connection)
        yield connection
