"""What the routes get injected: the pool opened by the lifespan, and a connection from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from taskq.client import Connection

Pool = AsyncConnectionPool[AsyncConnection[Any]]


@dataclass(frozen=True)
class Database:
    """The pool and how long a request waits for one of its connections."""

    pool: Pool
    timeout: float


def provide_database(state: State) -> Database:
    database: Database = state.database
    return database


async def provide_connection(state: State) -> AsyncIterator[Connection]:
    """A pooled autocommit connection for one request; each SQL call is its own transaction."""
    database: Database = state.database
    async with database.pool.connection(timeout=database.timeout) as conn:
        yield conn


# How routes ask for them: by name, explicitly (Litestar 3 drops inferred dependencies).
ConnectionDep = NamedDependency[Connection]
DatabaseDep = NamedDependency[Database]
