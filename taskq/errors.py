"""The one seam that turns database errors into taskq errors, by SQLSTATE and the error's fields.

The SQL functions raise standard SQLSTATEs with a message a person understands, and put what a
program needs in the error's fields, never only in the message (which may be reworded):

- class 22, a bad argument: ``COLUMN`` names the parameter (``max_attempts``), or the key of an
  element of a JSON array parameter as ``tasks[2].name`` (counted from 0) -> ``.field``;
- P0002 no such task, 55000 a transition the task's status does not allow: ``TABLE`` is
  ``tasks`` and ``DETAIL`` the JSON object ``{"task_id": ..., "status": ...}`` (status only for
  55000) -> ``.task_id``, ``.task_status``; P0002 no such worker: ``TABLE`` is ``workers``,
  ``DETAIL`` ``{"worker_id": ...}`` -> ``.worker_id``.

A server that cannot be reached, is shutting down (class 08, 57P) or takes no writes (25006
read_only_sql_transaction: a standby, an old primary that came back as one, a database made
read-only) is :class:`Unavailable`: the call is retried on another connection, which libpq may
open on another host of a multi-host URL.

Callers (the API, the CLI, the worker) catch these classes, never psycopg's.
"""

from __future__ import annotations

import json
from typing import Final
from uuid import UUID

import psycopg

# The database is there but the taskq schema is not (yet) deployed: no schema taskq (3F000), no
# such table or view (42P01), function (42883) or type (42704).
SCHEMA_MISSING_SQLSTATES: Final = frozenset({"3F000", "42P01", "42883", "42704"})
# The server takes no writes: a hot standby, or a session that is read-only.
READ_ONLY_SQLSTATE: Final = "25006"


class TaskqError(Exception):
    """An error the queue raised on purpose, with its SQLSTATE, message and fields."""

    def __init__(
        self,
        message: str,
        sqlstate: str | None = None,
        hint: str | None = None,
        *,
        field: str | None = None,
        task_id: UUID | None = None,
        task_status: str | None = None,
        worker_id: UUID | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.hint = hint
        self.field = field
        self.task_id = task_id
        self.task_status = task_status
        self.worker_id = worker_id


class NotFound(TaskqError):
    """P0002: no such task (``task_id``) or worker (``worker_id``)."""


class Conflict(TaskqError):
    """55000: the task's status (``task_status``) does not allow this transition."""


class InvalidArgument(TaskqError):
    """Class 22: a bad argument; ``field`` names it when the SQL did (COLUMN)."""


class Forbidden(TaskqError):
    """42501: the database role may not call this (it lacks the taskq role the call is for:
    taskq_producer, taskq_worker, taskq_reader or taskq_admin)."""


class Busy(TaskqError):
    """40P01 (a deadlock), 40001 (a serialization failure), 55P03 (a lock not available): the
    database rolled the call back because of a concurrent one; the same call can be retried."""


class Unavailable(TaskqError):
    """The database cannot be reached, or takes no writes (a standby): worth retrying on
    another connection."""


class SchemaMissing(TaskqError):
    """The database answers, but the taskq schema is not deployed in it."""


def _facts(detail: str | None) -> dict[str, object]:
    """The JSON object in a DETAIL (the SQL's fixed form); empty for any other text."""
    if not detail or not detail.startswith("{"):
        return {}
    try:
        facts = json.loads(detail)
    except ValueError:
        return {}
    return facts if isinstance(facts, dict) else {}


def _uuid(value: object) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


_KIND_OF_SQLSTATE: Final[dict[str, type[TaskqError]]] = {
    "P0002": NotFound,
    "55000": Conflict,
    "42501": Forbidden,
    "40P01": Busy,
    "40001": Busy,
    "55P03": Busy,
}


def translate(error: psycopg.Error) -> TaskqError:
    """The taskq error for a psycopg error; anything unexpected becomes a plain TaskqError."""
    sqlstate = error.sqlstate
    diag = error.diag
    message = diag.message_primary or str(error).strip()
    hint = diag.message_hint
    kind = _KIND_OF_SQLSTATE.get(sqlstate or "")
    if kind is None and (sqlstate or "").startswith("22"):
        kind = InvalidArgument
    if kind is not None:
        table = diag.table_name
        facts = _facts(diag.message_detail) if table in ("tasks", "workers") else {}
        status = facts.get("status")
        return kind(
            message,
            sqlstate,
            hint,
            field=diag.column_name,
            task_id=_uuid(facts.get("task_id")) if table == "tasks" else None,
            task_status=status if isinstance(status, str) else None,
            worker_id=_uuid(facts.get("worker_id")) if table == "workers" else None,
        )
    if sqlstate is None and isinstance(error, psycopg.DataError):
        # refused by the driver before it reached the server, e.g. a NUL character in a text
        return InvalidArgument(message, "22000", hint)
    if sqlstate in SCHEMA_MISSING_SQLSTATES:
        return SchemaMissing(message, sqlstate, hint)
    if (
        isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        or (sqlstate or "").startswith(("08", "57P"))
        or sqlstate == READ_ONLY_SQLSTATE
    ):
        return Unavailable(message or "the database is not reachable", sqlstate, hint)
    return TaskqError(message, sqlstate, hint)
