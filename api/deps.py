"""What the routes get injected: the pool opened by the lifespan, and a connection from it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException

from api.auth import actor_of
from taskq.client import Connection
from taskq.pool import Pool, pooled

BodyT = TypeVar("BodyT", bound=msgspec.Struct)
_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


@dataclass(frozen=True)
class Database:
    """The pool and how long a request waits for one of its connections."""

    pool: Pool
    timeout: float


def provide_database(state: State) -> Database:
    database: Database = state.database
    return database


async def provide_connection(state: State) -> AsyncIterator[Connection]:
    """A pooled autocommit connection for one request; each SQL call is its own transaction.
    One whose call found the database unavailable (a standby after a failover) is dropped."""
    database: Database = state.database
    async with pooled(database.pool, database.timeout) as conn:
        yield conn


def provide_actor(request: Request[Any, Any, Any]) -> str | None:
    """The name of the request's token: the actor of the admin acts it makes (None: no tokens)."""
    return actor_of(request)


# How routes ask for them: by name, explicitly (Litestar 3 drops inferred dependencies).
ConnectionDep = NamedDependency[Connection]
DatabaseDep = NamedDependency[Database]
ActorDep = NamedDependency[str | None]


async def strict_body(request: Request[Any, Any, Any], body_type: type[BodyT]) -> BodyT:
    """The request's JSON body converted to ``body_type`` in msgspec's strict mode.

    Litestar converts ``data`` in msgspec's lax mode, which also takes a number for a datetime
    (as a Unix time) and the strings "5" or "true" for an int or a bool. Routes declare ``data``
    (that is what documents the body) and then read it again through here, so the schema is the
    contract. The body is cached by Litestar, so this costs one conversion, not another read.
    JSON Schema counts 5.0 as an integer, so a whole float in a top-level field becomes an int.
    """
    raw = await request.json()
    if isinstance(raw, dict):
        raw = {key: _whole(value) for key, value in raw.items()}
    try:
        return msgspec.convert(raw, body_type, strict=True)
    except msgspec.ValidationError as error:
        message = str(error)
        where = _AT_PATH.search(message)
        key = where.group(1) if where else "data"
        reason = _AT_PATH.sub("", message)
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"key": key or "data", "message": reason, "source": "body"}],
        ) from error


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value
