"""The worker's database calls: :class:`Database`, one SQL function call per pooled connection.

Every part of the worker gets a :class:`Call` and calls a function of :mod:`taskq.client` through
it, with that function's own arguments: ``await db(client.claim_next, worker_id, lease=...)``.
An unreachable database (including a pool that cannot hand out a connection in time, and a
server that takes no writes, such as a standby after a failover) is
:class:`~taskq.errors.Unavailable`, and sets the ``answers_lost`` event: a call may have
committed without its answer arriving. The connection of such a call is dropped
(:func:`taskq.pool.pooled`); the parts retry on a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import psycopg

from taskq.client import Connection
from taskq.errors import TaskqError, Unavailable
from taskq.pool import Pool, make_pool, pooled
from taskq.settings import Prepare

POOL_APPLICATION = "taskq-worker"

P = ParamSpec("P")
T = TypeVar("T")


class Call(Protocol):
    """What the parts are given: ``await db(function, *args, **kwargs)`` runs
    ``function(conn, *args, **kwargs)`` on a pooled connection."""

    def __call__(
        self,
        function: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Awaitable[T]: ...


class Database:
    """The worker's connection pool (``size`` connections at most), opened by :meth:`open`."""

    def __init__(
        self,
        url: str,
        *,
        size: int,
        connect_timeout: float,
        answers_lost: asyncio.Event,
        prepare: Prepare | None = None,
    ) -> None:
        self.url = url
        self.size = size
        self.connect_timeout = connect_timeout
        self.answers_lost = answers_lost
        self.prepare = prepare
        self._pool: Pool | None = None

    async def open(self) -> None:
        self._pool = make_pool(
            self.url, min_size=1, max_size=self.size, name=POOL_APPLICATION, prepare=self.prepare
        )
        await self._pool.open(wait=False)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close(timeout=self.connect_timeout)

    async def __call__(
        self,
        function: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        assert self._pool is not None, "Database.open() first"
        try:
            async with pooled(self._pool, self.connect_timeout) as conn:
                return await function(conn, *args, **kwargs)
        except Unavailable:
            self.answers_lost.set()
            raise
        except TaskqError:
            raise
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as error:
            self.answers_lost.set()
            raise Unavailable(str(error).strip() or type(error).__name__) from error
