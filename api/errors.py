"""The one seam from errors to HTTP: every failure leaves as ``application/problem+json``.

The SQL functions raise standard SQLSTATEs, which :mod:`taskq.errors` turns into NotFound (P0002
-> 404), Conflict (55000 -> 409) and InvalidArgument (22xxx -> 400), with the field, task id and
status the SQL put in the error's fields (never read from the message); a database that cannot
be reached (a pool timeout, a broken connection), takes no writes (25006: a standby, during a
failover) or has no taskq schema is 503, with ``Retry-After``. Litestar's own
client errors (validation, a body that is not JSON or too large, an unknown route, a missing
token) keep their status and get the same body. Nothing a client sends turns into a 500: a 500
here is a bug in taskq.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, Final
from uuid import UUID

import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from api.schemas import InvalidParam, ParamSource, Problem
from taskq.errors import (
    READ_ONLY_SQLSTATE,
    Busy,
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    SchemaMissing,
    TaskqError,
    Unavailable,
    translate,
)
from taskq.rules import PRIORITIES, STATUSES, Status

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
_TYPE_BASE: Final = "urn:taskq:problem:"

log = logging.getLogger("taskq.api")

# The SQL's parameter (the error's COLUMN) where the API calls it by another name.
_API_NAME_OF_FIELD: Final = {"page_size": "limit"}
_NAMED_FIELD = re.compile(r"field `([^`]+)`")
_SOURCES: Final[dict[str, ParamSource]] = {
    "body": "body",
    "query": "query",
    "path": "path",
    "header": "header",
    "cookie": "cookie",
}
_CHOICES: Final = {
    "priority": ", ".join(PRIORITIES),
    "status": ", ".join(STATUSES),
    "missed": "once, skip",
}
_NUL_HINT: Final = "PostgreSQL text and jsonb cannot hold the NUL character (U+0000)"
# Errors whose message names no field, but whose SQLSTATE can only come from one.
_FIELD_OF_SQLSTATE: Final = {"22P05": "payload"}  # untranslatable_character: only jsonb payloads
_HINT_OF_SQLSTATE: Final = {"22P05": _NUL_HINT}
_STATUSES: Final[dict[str, Status]] = {status: status for status in STATUSES}


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    invalid_params: list[InvalidParam] | None = None,
    task_id: UUID | None = None,
    task_status: Status | None = None,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    problem = Problem(
        type=_TYPE_BASE + (kind or phrase.lower().replace(" ", "-")),
        title=title or phrase,
        status=status,
        detail=detail,
        invalid_params=invalid_params,
        task_id=task_id,
        task_status=task_status,
        hint=hint,
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _nul_hint(cause: BaseException | None) -> str | None:
    if isinstance(cause, psycopg.DataError) and "NUL" in str(cause):
        return _NUL_HINT
    return None


def _source_of(request: Request[Any, Any, Any], name: str) -> ParamSource:
    if name in request.path_params:
        return "path"
    if name in request.query_params:
        return "query"
    return "body"


def taskq_error_handler(request: Request[Any, Any, Any], error: TaskqError) -> Response[Problem]:
    """NotFound 404, Conflict 409, InvalidArgument 400, Forbidden (42501) 403, Busy (a deadlock,
    a serialization failure: retry), Unavailable and SchemaMissing 503."""
    message = error.message
    task_id = error.task_id
    task_status = _STATUSES.get(error.task_status or "")
    if isinstance(error, NotFound):
        return problem_response(404, message, kind="not-found", task_id=task_id, hint=error.hint)
    if isinstance(error, Conflict):
        return problem_response(
            409,
            message,
            kind="conflict",
            title="Not allowed in the task's status",
            task_id=task_id,
            task_status=task_status,
            hint=error.hint,
        )
    if isinstance(error, Forbidden):
        # the API's own database role lacks a grant: the operator's to fix, not the client's
        log.warning("the database refused the API's role: %s", message)
        return problem_response(
            403,
            f"the database role of this API may not do this: {message}",
            kind="forbidden",
            title="Forbidden by the database",
            hint="grant the API's login role taskq_producer, taskq_reader and taskq_admin "
            "(README, Privileges)",
        )
    cause = error.__cause__
    if isinstance(error, InvalidArgument) or (
        # Refused by psycopg before it reached the server, e.g. a NUL character in a text.
        isinstance(cause, psycopg.DataError) and error.sqlstate is None
    ):
        field = error.field or _FIELD_OF_SQLSTATE.get(error.sqlstate or "")
        field = _API_NAME_OF_FIELD.get(field or "", field)
        params = None
        if field is not None:
            params = [InvalidParam(name=field, reason=message, source=_source_of(request, field))]
        return problem_response(
            400,
            message,
            kind="invalid-argument",
            title="Invalid argument",
            invalid_params=params,
            hint=error.hint or _HINT_OF_SQLSTATE.get(error.sqlstate or "", _nul_hint(cause)),
        )
    if isinstance(error, Busy):
        return problem_response(
            503,
            f"the database rolled the call back because of a concurrent one; retry it: {message}",
            kind="database-busy",
            title="Database busy",
            headers={"Retry-After": "1"},
        )
    if error.sqlstate == READ_ONLY_SQLSTATE:
        return unavailable(
            f"the database takes no writes (a standby; a failover may be under way): {message}"
        )
    if isinstance(error, Unavailable) or isinstance(cause, psycopg.InterfaceError):
        return unavailable(f"the database cannot be reached: {message}")
    if isinstance(error, SchemaMissing):
        return unavailable(f"the taskq schema is not deployed in this database: {message}")
    log.error("unexpected database error %s: %s", error.sqlstate, message, exc_info=error)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "the database refused the request unexpectedly"
    )


def unavailable(detail: str) -> Response[Problem]:
    return problem_response(
        503,
        detail,
        kind="database-unavailable",
        title="Database unavailable",
        headers={"Retry-After": "5"},
    )


def database_error_handler(
    request: Request[Any, Any, Any], error: psycopg.Error
) -> Response[Problem]:
    """Errors that left psycopg outside the client: the pool could not give a connection."""
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return unavailable(f"the database cannot be reached: {error}")
    return taskq_error_handler(request, translate(error))


def invalid(name: str, reason: str, source: ParamSource = "body") -> ValidationException:
    """A 400 for one bad field, raised by a route, shaped like Litestar's own validation errors."""
    return ValidationException(
        detail=f"{name} {reason}", extra=[{"key": name, "message": reason, "source": source}]
    )


def _invalid_param(request: Request[Any, Any, Any], item: dict[str, Any]) -> InvalidParam:
    reason = str(item.get("message", "invalid value"))
    name = str(item.get("key") or "data")
    if name == "data":
        if reason == "'data'":
            # Litestar found no body at all for a route that wants one.
            return InvalidParam(name="body", reason="a JSON body is required", source="body")
        # msgspec names a missing or unknown field in the message, at the body's root.
        field = _NAMED_FIELD.search(reason)
        return InvalidParam(name=field.group(1) if field else "body", reason=reason, source="body")
    name = name.removeprefix("data.")
    if reason.startswith("Invalid enum value") and name in _CHOICES:
        reason = f"{reason}; expected one of {_CHOICES[name]}"
    raw = item.get("source")
    source = _SOURCES.get(str(getattr(raw, "value", raw))) or _source_of(request, name)
    return InvalidParam(name=name, reason=reason, source=source)


def validation_handler(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[Problem]:
    """Litestar's validation errors, with each bad field named in ``invalid_params``."""
    extra = error.extra if isinstance(error.extra, list) else []
    params = [_invalid_param(request, item) for item in extra if isinstance(item, dict)]
    detail = "; ".join(f"{p.name}: {p.reason}" for p in params) or error.detail
    return problem_response(
        400, detail, kind="invalid-request", title="Invalid request", invalid_params=params or None
    )


def http_error_handler(request: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    """Every other HTTP error Litestar raises (401, 404, 405, 413, ...) as problem details."""
    status = error.status_code
    detail = error.detail or HTTPStatus(status).phrase
    if status == 400 and detail.startswith("JSON is malformed"):
        return problem_response(
            400,
            f"the body is not valid JSON: {detail}",
            kind="invalid-json",
            title="Invalid JSON",
            invalid_params=[InvalidParam(name="body", reason=detail, source="body")],
        )
    if status == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    elif status == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        detail = f"the request body is larger than {limit} bytes"
    if status >= 500:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(status, detail, headers=error.headers)


def unexpected_error_handler(
    request: Request[Any, Any, Any], error: Exception
) -> Response[Problem]:
    """The last resort: a bug in taskq. Logged with its traceback; the body says nothing inside."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(HTTP_500_INTERNAL_SERVER_ERROR, "an unexpected error occurred")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    TaskqError: taskq_error_handler,
    psycopg.Error: database_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}


# -- the OpenAPI side: the problems each route documents -----------------------------------------

_EXAMPLES: Final[dict[int, Problem]] = {
    400: Problem(
        type=_TYPE_BASE + "invalid-request",
        title="Invalid request",
        status=400,
        detail="priority: Invalid enum value 'URGENT'; expected one of LOW, MEDIUM, HIGH",
        invalid_params=[
            InvalidParam(
                name="priority",
                reason="Invalid enum value 'URGENT'; expected one of LOW, MEDIUM, HIGH",
                source="body",
            )
        ],
    ),
    401: Problem(
        type=_TYPE_BASE + "unauthorized",
        title="Unauthorized",
        status=401,
        detail="this API wants an Authorization: Bearer <token> header",
    ),
    404: Problem(
        type=_TYPE_BASE + "not-found",
        title="Not Found",
        status=404,
        detail="task 01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11 does not exist",
        task_id=UUID("01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11"),
    ),
    409: Problem(
        type=_TYPE_BASE + "conflict",
        title="Not allowed in the task's status",
        status=409,
        detail="task 01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11 is RUNNING; "
        "only QUEUED or PAUSED tasks can be paused",
        task_id=UUID("01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11"),
        task_status="RUNNING",
    ),
    413: Problem(
        type=_TYPE_BASE + "request-entity-too-large",
        title="Request Entity Too Large",
        status=413,
        detail="the request body is larger than 1048576 bytes",
    ),
    415: Problem(
        type=_TYPE_BASE + "unsupported-media-type",
        title="Unsupported Media Type",
        status=415,
        detail="the body must be JSON, sent with Content-Type: application/json (or "
        "application/*+json); this request has Content-Type 'text/plain'",
    ),
    503: Problem(
        type=_TYPE_BASE + "database-unavailable",
        title="Database unavailable",
        status=503,
        detail="the database cannot be reached: couldn't get a connection after 3.00 sec",
    ),
}
_DESCRIPTIONS: Final = {
    400: "Bad input: the body names the field and the problem",
    401: "Missing or wrong bearer token (only when TASKQ_API_TOKEN is set)",
    404: "No such task (or queue, or schedule)",
    409: "The task's status does not allow this; the body names the task and its status",
    413: "The request body is too large",
    415: "The body is not declared JSON: send Content-Type: application/json",
    503: "The database cannot be reached",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the given error statuses, each a Problem with an example."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
            examples=[Example(summary=_DESCRIPTIONS[status], value=_EXAMPLES[status])],
        )
        for status in statuses
    }
