"""The connection pool the API and the worker share the settings of, and the one way every
other taskq connection is opened (the CLI's, the worker's LISTEN), with the same prepare policy.

A URL may name several hosts (libpq's ``host=a,b`` or ``postgresql://a:5432,b:5432/db``): each
new connection tries them in order, and with ``target_session_attrs=read-write`` takes the
first that accepts writes, so after a failover new connections find the promoted standby. A
connection that found the database unavailable (broken, or on a server that takes no writes)
is never handed out again (:func:`pooled`).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import monotonic
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from taskq import decoding
from taskq.errors import Unavailable
from taskq.settings import Prepare, prepare_setting

Pool = AsyncConnectionPool[AsyncConnection[Any]]

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
        self._returned: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()

    def mark_returned(self, conn: object) -> None:
        self._returned[conn] = monotonic()

    def sat_idle(self, conn: object) -> bool:
        """Whether ``conn`` was handed back long enough ago (or never) to be checked."""
        last = self._returned.get(conn)
        return last is None or monotonic() - last >= CHECK_IDLE_AFTER

    async def returned(self, conn: AsyncConnection[Any]) -> None:
        self.mark_returned(conn)

    async def check(self, conn: AsyncConnection[Any]) -> None:
        if self.sat_idle(conn):
            await AsyncConnectionPool.check_connection(conn)


async def configure(conn: AsyncConnection[Any]) -> None:
    """Settings of every pooled connection: json and jsonb columns (payload, result, errors)
    decoded by msgspec, and a value Python cannot represent decoded as a marker instead of
    failing the whole fetch (:mod:`taskq.decoding`)."""
    decoding.configure(conn)


async def behind_pooler(conn: AsyncConnection[Any]) -> bool:
    """Whether a connection pooler sits between ``conn`` and the server (one round trip).

    At connect a server tells the client the id of the process serving it (BackendKeyData, the
    key that cancel requests quote). A pooler answers that message itself with a key of its
    own, since the server process behind a client changes from one transaction to the next:
    PgBouncer does in every pool mode. ``pg_backend_pid()`` always names the server's process,
    so the two agree on a direct connection and differ behind a pooler.
    """
    cursor = await conn.execute("SELECT pg_backend_pid()", prepare=False)
    row = await cursor.fetchone()
    return row is None or row[0] != conn.info.backend_pid


async def apply_prepare(conn: AsyncConnection[Any], prepare: Prepare) -> None:
    """Turn psycopg's prepared statements off on ``conn`` when ``prepare`` is ``off``, or
    ``auto`` with a pooler in the way. Behind a pooler in transaction pooling a statement
    prepared in one transaction is looked for on another server connection in the next
    (``prepared statement "_pg3_0" does not exist``), or its name is taken there already."""
    if prepare == "off" or (prepare == "auto" and await behind_pooler(conn)):
        conn.prepare_threshold = None


async def connect(
    url: str, *, prepare: Prepare | None = None, **options: Any
) -> AsyncConnection[Any]:
    """One autocommit connection outside the pool, under the prepare policy of ``prepare``
    (None: ``TASKQ_PREPARE``); ``options`` are libpq's (``connect_timeout``, ...)."""
    policy = prepare_setting() if prepare is None else prepare
    conn = await AsyncConnection.connect(url, autocommit=True, **options)
    try:
        await apply_prepare(conn, policy)
    except BaseException:
        await conn.close()
        raise
    return conn


def pool_options(min_size: int, max_size: int, name: str) -> dict[str, Any]:
    """What this pool and :class:`taskq.sync.SyncClient`'s are made with: between ``min_size``
    and ``max_size`` autocommit connections called ``name``, waited for up to 10 seconds."""
    return {
        "min_size": min_size,
        "max_size": max_size,
        "kwargs": {"autocommit": True, "application_name": name},
        "timeout": 10,
    }


def make_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "taskq",
    prepare: Prepare | None = None,
) -> Pool:
    """An unopened pool of autocommit connections: each SQL function call is its own
    transaction. ``prepare`` is the prepare policy (None: ``TASKQ_PREPARE``), applied to each
    new connection."""
    freshness = _Freshness()
    policy = prepare_setting() if prepare is None else prepare

    async def set_up(conn: AsyncConnection[Any]) -> None:
        await configure(conn)
        await apply_prepare(conn, policy)

    return AsyncConnectionPool(
        url,
        **pool_options(min_size, max_size, name),
        open=False,
        configure=set_up,
        check=freshness.check,
        reset=freshness.returned,
    )


@asynccontextmanager
async def pooled(pool: Pool, wait: float) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of ``pool`` for one call, waited for up to ``wait`` seconds.

    When the call finds the database :class:`~taskq.errors.Unavailable` the connection is
    closed, and the pool replaces it. A connection to a server that takes no writes (a standby,
    or the old primary come back as one) stays healthy to the pool's checks and would fail every
    call; a new one goes where libpq's ``target_session_attrs`` sends it."""
    async with pool.connection(timeout=wait) as conn:
        try:
            yield conn
        except Unavailable:
            await conn.close()
            raise
