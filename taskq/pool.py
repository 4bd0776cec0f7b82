"""The connection pool the API and the worker share the settings of."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


def make_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, name: str = "taskq"
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """An unopened pool of autocommit connections: each SQL function call is its own transaction."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "application_name": name},
        open=False,
        timeout=10,
        # a connection that died with a database restart is replaced before it is handed out
        check=AsyncConnectionPool.check_connection,
    )
