"""What ``@task("name")`` returns: a :class:`TaskHandle`, the handler still, and a way to
enqueue its tasks by the handler rather than by a name typed again::

    class Email(TypedDict):
        to: str

    @task("send_email")
    async def send_email(payload: Email, ctx: TaskContext) -> None: ...

    await send_email.enqueue(conn, {"to": "ada@example.com"})       # an AsyncConnection
    send_email.enqueue(sync_client, {"to": "ada@example.com"})      # a taskq.sync.SyncClient
    await send_email.configure(delay=timedelta(minutes=5), priority="HIGH").enqueue(conn, ...)

The payload is one dict, typed by the handler's own annotation (a ``TypedDict`` makes a missing
or misspelt key a type error); the options are keywords of :meth:`TaskHandle.configure`, so a
payload key never collides with an option's name.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, overload
from uuid import UUID

import psycopg

from taskq import client
from taskq.rules import Priority
from taskq.sync import SyncClient
from worker.context import TaskContext

PayloadT = TypeVar("PayloadT", bound=Mapping[str, Any])
ResultT = TypeVar("ResultT")

# the options of taskq.client.enqueue (all but its connection, name and payload); an option
# added there is one here
_ENQUEUE_OPTIONS = frozenset(inspect.signature(client.enqueue).parameters) - {
    "conn",
    "name",
    "payload",
}


class TaskHandle(Generic[PayloadT, ResultT]):
    """A registered handler: call it as the function it wraps, or enqueue a task it runs.

    ``options`` are the keyword arguments of :func:`taskq.client.enqueue` its tasks get
    (``queue``, ``priority``, ``max_attempts``, ``scheduled_at``... None: the SQL's default),
    plus ``delay``, a ``timedelta`` after the moment of each enqueue (by this machine's clock).
    """

    # set from the function by functools.update_wrapper
    __name__: str
    __qualname__: str

    def __init__(
        self,
        name: str,
        function: Callable[[PayloadT, TaskContext], ResultT],
        options: Mapping[str, Any] | None = None,
    ) -> None:
        functools.update_wrapper(self, function)  # its __name__, __doc__, __module__...
        self.name = name
        self.function = function
        self.options: Mapping[str, Any] = dict(options or {})

    def __call__(self, payload: PayloadT, ctx: TaskContext) -> ResultT:
        return self.function(payload, ctx)

    def configure(
        self,
        *,
        queue: str | None = None,
        priority: Priority | None = None,
        max_attempts: int | None = None,
        scheduled_at: datetime | None = None,
        delay: timedelta | None = None,
        **options: Any,
    ) -> TaskHandle[PayloadT, ResultT]:
        """The same handler with these enqueue options over its own (None leaves one as it
        is). ``options`` are further keyword arguments of :func:`taskq.client.enqueue`; a name
        it does not take is a TypeError here, before anything is enqueued."""
        unknown = sorted(options.keys() - _ENQUEUE_OPTIONS)
        if unknown:
            raise TypeError(
                f"taskq.client.enqueue takes no option {', '.join(map(repr, unknown))}; it takes "
                f"{', '.join(sorted(_ENQUEUE_OPTIONS | {'delay'}))}"
            )
        if delay is not None and (not isinstance(delay, timedelta) or delay < timedelta(0)):
            raise ValueError(f"delay must be a timedelta of 0 or more, not {delay!r}")
        given = {
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "scheduled_at": scheduled_at,
            "delay": delay,
            **options,
        }
        merged = {**self.options, **{k: v for k, v in given.items() if v is not None}}
        if "delay" in merged and "scheduled_at" in merged:
            raise ValueError("give scheduled_at or delay, not both")
        return TaskHandle(self.name, self.function, merged)

    def arguments(self, payload: PayloadT) -> dict[str, Any]:
        """The keyword arguments of :func:`taskq.client.enqueue` for a task of this handler
        with ``payload``: also an item of :func:`taskq.client.enqueue_many`."""
        if not isinstance(payload, Mapping):
            raise TypeError(
                f"the payload of task {self.name!r} is a dict, not {type(payload).__name__}"
            )
        arguments = {"name": self.name, "payload": dict(payload), **self.options}
        delay = arguments.pop("delay", None)
        if delay is not None:
            try:
                arguments["scheduled_at"] = datetime.now(UTC) + delay
            except OverflowError:
                raise ValueError(f"a delay of {delay} ends after the year 9999") from None
        return arguments

    @overload
    def enqueue(self, db: SyncClient, payload: PayloadT) -> UUID: ...

    @overload
    def enqueue(
        self, db: psycopg.AsyncConnection[Any], payload: PayloadT
    ) -> Coroutine[Any, Any, UUID]: ...

    def enqueue(
        self, db: SyncClient | psycopg.AsyncConnection[Any], payload: PayloadT
    ) -> UUID | Coroutine[Any, Any, UUID]:
        """Enqueue a task of this handler: its id, or on an async connection a coroutine of
        it. Errors are those of :func:`taskq.client.enqueue`."""
        arguments = self.arguments(payload)
        if isinstance(db, SyncClient):
            return db.enqueue(**arguments)
        return client.enqueue(db, **arguments)

    def __repr__(self) -> str:
        options = "".join(f", {key}={value!r}" for key, value in self.options.items())
        return f"TaskHandle({self.name!r}, {self.function!r}{options})"
