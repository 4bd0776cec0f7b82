"""Handlers by task name: the :class:`Registry` and the ``@task("name")`` decorator.

A handler takes the task's payload and its :class:`~worker.context.TaskContext` and returns a
JSON value (or None), stored as the task's result::

    from worker import task

    @task("send_email")
    async def send_email(payload: dict, ctx: TaskContext) -> dict | None: ...

``async def`` handlers run on the worker's event loop; plain ``def`` handlers run in a thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from worker import builtins
from worker.context import TaskContext
from worker.handle import PayloadT, TaskHandle

HandlerFunction = Callable[[dict[str, Any], TaskContext], Any]
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Handler:
    """A registered handler: its task name, the function, whether it is ``async def``, and the
    schedule the worker declares for it when it starts (``cron`` in ``time_zone``; None: none)."""

    name: str
    function: HandlerFunction
    is_async: bool
    cron: str | None = None
    time_zone: str = "UTC"


class Registry:
    """Task names to handlers. ``Registry()`` is empty; ``Registry(base)`` holds ``base``'s
    handlers too, beneath its own. The worker's default one, exported as ``worker.registry``,
    holds every ``@task`` over the built-ins (:data:`BUILTINS`)."""

    def __init__(self, base: Registry | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self._base = base

    def register(
        self,
        name: str,
        function: HandlerFunction | TaskHandle[Any, Any],
        *,
        cron: str | None = None,
        time_zone: str = "UTC",
    ) -> Handler:
        """Register ``function`` for tasks called ``name``. Registering another function under a
        name already taken is a ValueError; registering the same one again (a module imported
        twice) is allowed. A :class:`~worker.handle.TaskHandle` runs as the function it wraps.
        With ``cron``, the worker declares the schedule ``name`` (task ``name``, queue
        ``default``) at each start: ``taskq.declare_schedule``, which checks the expression and
        the time zone."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a task name must be a non-empty string")
        if not callable(function):
            raise TypeError(f"the handler of task {name!r} must be callable, not {function!r}")
        existing = self.get(name)
        if existing is not None and _qualified(existing.function) != _qualified(function):
            raise ValueError(
                f"task {name!r} already has a handler: {_qualified(existing.function)}"
            )
        if cron is not None and (not isinstance(cron, str) or not cron.strip()):
            raise ValueError(f"the cron of task {name!r} must be a non-empty string")
        wrapped = function.function if isinstance(function, TaskHandle) else function
        # a TaskHandle's payload may be typed narrower than dict: the producers' promise
        handler = Handler(
            name,
            cast(HandlerFunction, function),
            inspect.iscoroutinefunction(wrapped),
            cron,
            time_zone,
        )
        self._handlers[name] = handler
        return handler

    def task(
        self, name: str | None = None, *, cron: str | None = None, time_zone: str = "UTC"
    ) -> Callable[[Callable[[PayloadT, TaskContext], ResultT]], TaskHandle[PayloadT, ResultT]]:
        """Decorator: ``@registry.task("name")`` (the function's own name when omitted); the
        function becomes a :class:`~worker.handle.TaskHandle`, callable as before.
        ``@registry.task("report", cron="0 7 * * 1-5", time_zone="Europe/Paris")`` also
        schedules it."""

        def decorate(
            function: Callable[[PayloadT, TaskContext], ResultT],
        ) -> TaskHandle[PayloadT, ResultT]:
            handle = TaskHandle(name if name is not None else function.__name__, function)
            self.register(handle.name, handle, cron=cron, time_zone=time_zone)
            return handle

        return decorate

    def get(self, name: str) -> Handler | None:
        found = self._handlers.get(name)
        if found is None and self._base is not None:
            return self._base.get(name)
        return found

    def names(self) -> list[str]:
        """The registered task names, sorted."""
        base = [] if self._base is None else self._base.names()
        return sorted({*self._handlers, *base})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Handler]:
        return (handler for name in self.names() if (handler := self.get(name)) is not None)

    def __len__(self) -> int:
        return len(self.names())


def _qualified(function: object) -> str:
    module = getattr(function, "__module__", None) or "?"
    qualname = getattr(function, "__qualname__", None) or repr(function)
    return f"{module}.{qualname}"


#: the built-in handlers, which every worker has: the default registry's base, and what a
#: worker with a registry of its own falls back on
BUILTINS = Registry()
BUILTINS.register("sleep", builtins.sleep)
BUILTINS.register("echo", builtins.echo)
BUILTINS.register("fail", builtins.fail)

registry = Registry(BUILTINS)


def task(
    name: str | None = None, *, cron: str | None = None, time_zone: str = "UTC"
) -> Callable[[Callable[[PayloadT, TaskContext], ResultT]], TaskHandle[PayloadT, ResultT]]:
    """Register a handler in the worker's default registry: ``@task("send_email")``; with
    ``cron`` (and ``time_zone``), a periodic task the worker schedules when it starts."""
    return registry.task(name, cron=cron, time_zone=time_zone)
