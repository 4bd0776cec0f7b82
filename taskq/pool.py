"""The connection pool the API and the worker share the settings of."""

from __future__ import annotations

import weakref
from time import monotonic
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from taskq import decoding

# A connection handed back less than this many seconds ago is handed out again unchecked.
CHECK_IDLE_AFTER = 1.0


class _Freshness:
    """When each pooled connection was last handed back, so that only one that sat idle is
    checked (a round trip) before it is handed out again.

    A connection that died with a database restart while idle is replaced before use; under
    load, when connections come and go within milliseconds, no call pays a second round trip
    for the check. A connection that dies in the instant between two uses fails its call, which
    the API answers with 503 and the worker retries: both handle that case anyway.
    """

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def returned(self, conn: AsyncConnection[Any]) -> None:
        self._returned[conn] = monotonic()

    async def check(self, conn: AsyncConnection[Any]) -> None:
        last = self._returned.get(conn)
        if last is None or monotonic() - last >= CHECK_IDLE_AFTER:
            await AsyncConnectionPool.check_connection(conn)


async def configure(conn: AsyncConnection[Any]) -> None:
    """Settings of every pooled connection: json and jsonb columns (payload, result, errors)
    decoded by msgspec, and a value Python cannot represent decoded as a marker instead of
    failing the whole fetch (:mod:`taskq.decoding`)."""
    decoding.configure(conn)


def make_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, name: str = "taskq"
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """An unopened pool of autocommit connections: each SQL function call is its own transaction."""
    freshness = _Freshness()
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "application_name": name},
        open=False,
        timeout=10,
        configure=configure,
        check=freshness.check,
        reset=freshness.returned,
    )
