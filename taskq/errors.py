"""The one seam that turns database errors into taskq errors, by SQLSTATE.

The SQL functions raise standard SQLSTATEs with a message a person understands:
P0002 no such task or worker, 55000 a transition the status does not allow, 22xxx a bad
argument. Callers (the API, the CLI, the worker) catch these classes, never psycopg's.
"""

from __future__ import annotations

import psycopg


class TaskqError(Exception):
    """An error the queue raised on purpose, with its SQLSTATE and message."""

    def __init__(self, message: str, sqlstate: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.hint = hint


class NotFound(TaskqError):
    """P0002: no such task (or worker)."""


class Conflict(TaskqError):
    """55000: the task's status does not allow this transition."""


class InvalidArgument(TaskqError):
    """Class 22: a bad argument (empty name, max_attempts < 1, unknown priority, ...)."""


class Unavailable(TaskqError):
    """The database cannot be reached."""


def translate(error: psycopg.Error) -> TaskqError:
    """The taskq error for a psycopg error; anything unexpected becomes a plain TaskqError."""
    sqlstate = error.sqlstate
    diag = error.diag
    message = diag.message_primary or str(error).strip()
    hint = diag.message_hint
    if sqlstate == "P0002":
        return NotFound(message, sqlstate, hint)
    if sqlstate == "55000":
        return Conflict(message, sqlstate, hint)
    if sqlstate is not None and sqlstate.startswith("22"):
        return InvalidArgument(message, sqlstate, hint)
    if sqlstate is None and isinstance(error, psycopg.DataError):
        # refused by the driver before it reached the server, e.g. a NUL character in a text
        return InvalidArgument(message, "22000", hint)
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError) or (
        sqlstate or ""
    ).startswith(("08", "57P")):
        return Unavailable(message or "the database is not reachable", sqlstate, hint)
    return TaskqError(message, sqlstate, hint)
