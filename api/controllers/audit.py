"""``/api/audit``: the audit trail of admin acts, newest first, a keyset page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.openapi.spec import Example
from litestar.params import Parameter

from api.deps import ConnectionDep
from api.errors import invalid, problem_responses
from api.schemas import AuditPageOut, as_utc
from taskq import client
from taskq.rules import NAME_MAX, PAGE_MAX

BIGINT_MAX = 2**63 - 1

# A text parsed here, not a datetime parameter: Litestar would take a bare number for a Unix
# time, which the schema (a date-time) does not allow.
Moment = Annotated[
    str | None,
    Parameter(
        description="ISO 8601; without an offset it is UTC (write a + offset as %2B, or use Z)",
        examples=[Example(value="2030-01-01T10:00:00Z")],
        schema_extra={"format": "date-time"},
    ),
]


def _utc(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        # RFC 3339 allows a lower-case t and z, which fromisoformat does not read
        moment = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise invalid(
            name, "is not an ISO 8601 time such as 2030-01-01T10:00:00Z", "query"
        ) from None
    try:
        return as_utc(moment).astimezone(UTC)
    except OverflowError:
        raise invalid(name, "is out of the range of representable times", "query") from None


class AuditController(Controller):
    """The audit trail: read through ``taskq.list_audit``."""

    path = "/api/audit"
    tags = ["audit"]

    @get(
        "/",
        operation_id="listAudit",
        summary="The audit trail, newest first, a keyset page at a time",
        description="Calls `taskq.list_audit`: one row per admin act (pause, resume, cancel, "
        "retry, a queue's concurrency, pause or retention, a prune) with `at`, `action`, "
        "`task_id` / `queue`, the "
        "values `before` and `after`, `db_user` (the database login), `actor` (the API "
        "token's name) and `reason`. Filters combine; `since` <= at < `before`. Pass a page's "
        "`next_cursor` as `cursor` to get the next page (null on the last page).",
        responses=problem_responses(400, 401, 503),
    )
    async def list_audit(
        self,
        conn: ConnectionDep,
        task_id: Annotated[UUID | None, Parameter(description="only acts on this task")] = None,
        queue: Annotated[
            str | None,
            Parameter(max_length=NAME_MAX, description="only acts on this queue or on its tasks"),
        ] = None,
        action: Annotated[
            str | None,
            Parameter(
                max_length=64,
                description="only this act: pause, resume, cancel, retry, set_concurrency, "
                "pause_queue, resume_queue, set_retention, prune",
                examples=[Example(value="cancel")],
            ),
        ] = None,
        since: Moment = None,
        before: Moment = None,
        limit: Annotated[
            int,
            Parameter(ge=1, le=PAGE_MAX, description=f"rows per page (at most {PAGE_MAX})"),
        ] = 50,
        cursor: Annotated[
            int | None,
            Parameter(ge=1, le=BIGINT_MAX, description="the previous page's next_cursor"),
        ] = None,
    ) -> AuditPageOut:
        page = await client.list_audit(
            conn,
            task_id=task_id,
            queue=queue,
            action=action,
            since=_utc("since", since),
            before=_utc("before", before),
            after=cursor,
            page_size=limit,
        )
        return AuditPageOut.of(page)
