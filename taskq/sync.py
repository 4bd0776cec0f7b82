"""A blocking client for code that is not async (scripts, Django views, plain threads).

:class:`SyncClient` has the producer, reader and admin calls of :mod:`taskq.client` as methods
of the same names and parameters, without the connection argument::

    from taskq.sync import SyncClient

    with SyncClient("postgresql://app@db/app") as taskq:
        task_id = taskq.enqueue("send_email", {"to": "ada@example.com"}, priority="HIGH")
        print(taskq.get_task(task_id).status)

It runs the async client's own functions, not a copy of them: each method drives the coroutine
of its :mod:`taskq.client` function to the end on a plain psycopg connection that wears the few
async methods those functions call (:class:`_AsyncFace`). Nothing in them waits on anything but
their connection, so the coroutine finishes in one step, with no event loop. The SQL, the row
decoding and the error mapping (NotFound, Conflict, InvalidArgument, Forbidden, Unavailable...)
are therefore the async client's, and a parameter added to a :mod:`taskq.client` function is a
parameter of the method at once.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg import Connection
from psycopg.rows import RowFactory
from psycopg_pool import ConnectionPool

from taskq import client, decoding
from taskq.errors import Unavailable, translate
from taskq.pool import _Freshness, apply_prepare, pool_options
from taskq.settings import Prepare, prepare_setting

P = ParamSpec("P")
R = TypeVar("R")


def _drive(coroutine: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine that never suspends (it awaits only an :class:`_AsyncFace`) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a taskq.client call waited on something other than its connection")


class _AsyncCursor:
    """A psycopg cursor with the async methods of a psycopg AsyncCursor that the client calls."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _AsyncCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, query: Any, params: Any = None, **options: Any) -> _AsyncCursor:
        self._cursor.execute(query, params, **options)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class _AsyncFace:
    """A psycopg connection with the async methods of a psycopg AsyncConnection that the
    client calls. Each cursor decodes rows as the pooled connections do (:mod:`taskq.decoding`),
    leaving the connection's own settings alone: it may be the application's."""

    def __init__(self, conn: Connection[Any]) -> None:
        self._conn = conn

    def cursor(self, *, row_factory: RowFactory[Any] | None = None) -> _AsyncCursor:
        cursor = (
            self._conn.cursor()
            if row_factory is None
            else self._conn.cursor(row_factory=row_factory)
        )
        decoding.configure(cursor)
        return _AsyncCursor(cursor)

    async def execute(self, query: Any, params: Any = None, **options: Any) -> _AsyncCursor:
        return await self.cursor().execute(query, params, **options)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        with self._conn.transaction():
            yield

    @property
    def info(self) -> Any:
        return self._conn.info

    @property
    def adapters(self) -> Any:
        return self._conn.adapters

    @property
    def prepare_threshold(self) -> int | None:
        return self._conn.prepare_threshold

    @prepare_threshold.setter
    def prepare_threshold(self, value: int | None) -> None:
        self._conn.prepare_threshold = value


def _face(conn: Connection[Any]) -> client.Connection:
    # the functions of taskq.client are typed for psycopg's AsyncConnection: _AsyncFace has the
    # part of it they use
    return _AsyncFace(conn)  # type: ignore[return-value]


def _blocking(
    function: Callable[Concatenate[client.Connection, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SyncClient, P], R]:
    """A method of :class:`SyncClient` that calls ``function`` on one of its connections."""

    def method(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.connection() as conn:
            return _drive(function(_face(conn), *args, **kwargs))

    method.__name__ = method.__qualname__ = function.__name__
    method.__doc__ = function.__doc__
    signature = inspect.signature(function)
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    parameters = [self_parameter, *list(signature.parameters.values())[1:]]
    method.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return method


class SyncClient:
    """The calls of :mod:`taskq.client` for code that blocks.

    ``SyncClient(url)`` opens a pool of autocommit connections of its own (``max_size`` of
    them; close it with :meth:`close` or a ``with`` block): each call is its own transaction,
    and behind PgBouncer in transaction pooling psycopg's prepared statements are turned off as
    in the async pool (``prepare``, default ``TASKQ_PREPARE``). ``SyncClient(connection=conn)``
    runs every call on the application's psycopg connection instead, in its transaction when
    it is in one (an enqueue commits or rolls back with the application's writes); its settings
    are the application's. Thread-safe either way (psycopg serialises the calls on one
    connection). Errors are :mod:`taskq.errors`' classes, as from the async client.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        connection: Connection[Any] | None = None,
        min_size: int = 1,
        max_size: int = 4,
        name: str = "taskq",
        prepare: Prepare | None = None,
        wait: float = 10.0,
    ) -> None:
        if (url is None) == (connection is None):
            raise TypeError("SyncClient takes a database URL or a connection, one of them")
        self._connection = connection
        self._wait = wait
        self._pool: ConnectionPool[Connection[Any]] | None = None
        if url is None:
            return
        # as taskq.pool.make_pool makes the async pool: autocommit connections under the prepare
        # policy, each checked before use when it sat idle
        freshness = _Freshness()
        policy = prepare_setting() if prepare is None else prepare

        def check(conn: Connection[Any]) -> None:
            if freshness.sat_idle(conn):
                ConnectionPool.check_connection(conn)

        self._pool = ConnectionPool(
            url,
            **pool_options(min_size, max_size, name),
            open=True,
            configure=lambda conn: _drive(apply_prepare(_face(conn), policy)),
            check=check,
            reset=freshness.mark_returned,
        )

    @contextmanager
    def connection(self) -> Iterator[Connection[Any]]:
        """The connection of one call: the application's, or one of the pool's for up to
        ``wait`` seconds (Unavailable when none came). A pooled connection that found the
        database unavailable is closed, and the pool replaces it."""
        if self._pool is None:
            assert self._connection is not None
            yield self._connection
            return
        try:
            pooled = self._pool.getconn(timeout=self._wait)
        except psycopg.Error as error:
            raise translate(error) from error
        try:
            yield pooled
        except Unavailable:
            pooled.close()
            raise
        finally:
            self._pool.putconn(pooled)

    def close(self) -> None:
        """Close the pool of a client made from a URL (the application's connection stays)."""
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def acting_as(self, actor: str | None) -> Iterator[SyncClient]:
        """A client whose admin acts the audit trail records as done by ``actor``, all in one
        transaction on one connection (:func:`taskq.client.acting_as`); None: no actor."""
        with self.connection() as conn:
            acting = client.acting_as(_face(conn), actor)
            _drive(acting.__aenter__())
            try:
                yield SyncClient(connection=conn)
            except BaseException as error:
                if not _drive(acting.__aexit__(type(error), error, error.__traceback__)):
                    raise
            else:
                _drive(acting.__aexit__(None, None, None))

    enqueue = _blocking(client.enqueue)
    enqueue_many = _blocking(client.enqueue_many)
    get_task = _blocking(client.get_task)
    list_tasks = _blocking(client.list_tasks)
    pause = _blocking(client.pause)
    resume = _blocking(client.resume)
    cancel = _blocking(client.cancel)
    retry = _blocking(client.retry)
    list_audit = _blocking(client.list_audit)
    set_concurrency = _blocking(client.set_concurrency)
    pause_queue = _blocking(client.pause_queue)
    resume_queue = _blocking(client.resume_queue)
    set_retention = _blocking(client.set_retention)
    prune = _blocking(client.prune)
    maintain = _blocking(client.maintain)
    queue_stats = _blocking(client.queue_stats)
    get_queue_stats = _blocking(client.get_queue_stats)
    table_health = _blocking(client.table_health)
    cleanup_holders = _blocking(client.cleanup_holders)
