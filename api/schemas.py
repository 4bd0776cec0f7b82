"""The shapes the REST API reads and writes: msgspec Structs, mapped from the client's rows.

Times go out as ISO 8601 strings with an explicit ``+00:00`` offset (UTC); times coming in may
carry any offset, and one without an offset is read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from taskq import client
from taskq.rules import (
    CONCURRENCY_MAX,
    KEY_MAX,
    NAME_MAX,
    NAME_PATTERN,
    REASON_MAX,
    Priority,
    Status,
)

INT4_MAX = 2_147_483_647

Timestamp = Annotated[
    str,
    Meta(
        description="ISO 8601 date and time with its UTC offset",
        examples=["2030-01-01T10:00:00+00:00"],
        extra_json_schema={"extra": {"format": "date-time"}},
    ),
]
QueueName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description="the queue's name (created on first use)",
        examples=["default"],
    ),
]

TaskKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=KEY_MAX,
        pattern=NAME_PATTERN,
        description=f"1 to {KEY_MAX} characters, not blank",
    ),
]
Duration = Annotated[
    timedelta,
    Meta(description="an ISO 8601 duration of days, hours, minutes, seconds", examples=["PT5M"]),
]

Reason = Annotated[
    str,
    Meta(
        max_length=REASON_MAX,
        description=f"why, for the audit trail (at most {REASON_MAX} characters)",
        examples=["duplicate of another task"],
    ),
]


def utc_iso(moment: datetime) -> str:
    """``2030-01-01T10:00:00+00:00``: ISO 8601 in UTC with an explicit offset."""
    return moment.astimezone(UTC).isoformat()


def as_utc(moment: datetime) -> datetime:
    """An aware datetime: a naive one is read as UTC (the REST API's rule)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# -- tasks ---------------------------------------------------------------------------------------


class TaskCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A task to enqueue. Absent (or null) fields take the SQL function's defaults."""

    name: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=NAME_MAX,
            pattern=NAME_PATTERN,
            description="the handler that runs the task",
            examples=["send_email"],
        ),
    ]
    payload: (
        Annotated[
            dict[str, Any],
            Meta(description="a JSON object handed to the handler; default {}"),
        ]
        | None
    ) = None
    priority: (
        Annotated[Priority, Meta(description="LOW, MEDIUM or HIGH; default MEDIUM")] | None
    ) = None
    scheduled_at: (
        Annotated[
            datetime,
            Meta(
                description="when the task falls due, ISO 8601; without an offset it is UTC; "
                "default now",
                examples=["2030-01-01T10:00:00"],
            ),
        ]
        | None
    ) = None
    queue: QueueName | None = None
    max_attempts: (
        Annotated[
            int,
            Meta(ge=1, le=INT4_MAX, description="attempts before the task FAILED; default 3"),
        ]
        | None
    ) = None
    unique_key: (
        Annotated[
            TaskKey,
            Meta(description="while a task with this key is live, enqueue answers it instead"),
        ]
        | None
    ) = None
    unique_for: (
        Annotated[
            Duration,
            Meta(description="how long the key stays taken after the task finished; default 0"),
        ]
        | None
    ) = None
    concurrency_key: (
        Annotated[TaskKey, Meta(description="tasks of one key run at most the key limit at once")]
        | None
    ) = None
    timeout: (
        Annotated[Duration, Meta(description="how long one attempt may run; positive")] | None
    ) = None


class TaskItemOut(msgspec.Struct, kw_only=True):
    """A task in a list: ``payload`` and ``result`` only when ``include`` names them."""

    id: UUID
    name: str
    queue: str
    payload: (
        Annotated[dict[str, Any], Meta(description="only with include=payload")] | UnsetType
    ) = UNSET
    priority: Priority
    status: Status
    scheduled_at: Timestamp
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    attempts: int
    max_attempts: int
    last_error: str | None
    result: Annotated[Any, Meta(description="only with include=result")] | UnsetType = UNSET
    time_to_execute: Annotated[
        float | None,
        Meta(description="seconds: finished - started, or elapsed while RUNNING, else null"),
    ]
    unique_key: str | None = None
    unique_for: timedelta | None = None
    concurrency_key: str | None = None
    timeout: timedelta | None = None

    @classmethod
    def of(cls, task: client.TaskSummary) -> Self:
        return cls(
            id=task.id,
            name=task.name,
            queue=task.queue,
            payload=task.payload,
            priority=task.priority,
            status=task.status,
            scheduled_at=utc_iso(task.scheduled_at),
            created_at=utc_iso(task.created_at),
            started_at=None if task.started_at is None else utc_iso(task.started_at),
            finished_at=None if task.finished_at is None else utc_iso(task.finished_at),
            attempts=task.attempts,
            max_attempts=task.max_attempts,
            last_error=task.last_error,
            result=task.result,
            time_to_execute=task.time_to_execute,
            unique_key=task.unique_key,
            unique_for=task.unique_for,
            concurrency_key=task.concurrency_key,
            timeout=task.timeout,
        )


class TaskOut(TaskItemOut, kw_only=True):
    """A task as the API shows it (the lease and worker bookkeeping stay inside)."""

    payload: dict[str, Any]
    result: Any
    progress: Annotated[
        Any,
        Meta(
            description="the last value the handler reported with ctx.report_progress (kept "
            "after the task finished); null when none"
        ),
    ] = None
    progress_at: Annotated[
        Timestamp | None, Meta(description="when the progress was stored; null when none")
    ] = None
    errors: Annotated[
        list[dict[str, Any]],
        Meta(
            description="every failed attempt, oldest first: {attempt, at, error} (the error "
            "text the worker reported, a traceback for an exception)",
            examples=[[{"attempt": 1, "at": "2030-01-01T10:00:00+00:00", "error": "boom"}]],
        ),
    ] = []
    trace_context: Annotated[
        dict[str, str] | None,
        Meta(
            description="the W3C trace context of what enqueued the task (`traceparent` and "
            "`tracestate`), which the handler's span continues; null when none"
        ),
    ] = None

    @classmethod
    def of(cls, task: client.TaskSummary) -> Self:
        out = super().of(task)
        out.progress = task.progress
        out.progress_at = None if task.progress_at is None else utc_iso(task.progress_at)
        out.errors = task.errors
        out.trace_context = task.trace_context
        return out


class TaskCreatedOut(TaskOut, kw_only=True):
    """The answer of an enqueue: the task, and whether this call added it."""

    created: Annotated[
        bool,
        Meta(description="false when the unique_key was taken: the task is the one that holds it"),
    ]


class TaskPageOut(msgspec.Struct, kw_only=True):
    """A keyset page of tasks, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[TaskItemOut]
    next_cursor: Annotated[
        UUID | None, Meta(description="the cursor of the next page; null on the last page")
    ]

    @classmethod
    def of(cls, page: client.TaskPage[client.TaskSummary]) -> TaskPageOut:
        return cls(
            items=[TaskItemOut.of(task) for task in page.items], next_cursor=page.next_cursor
        )


# -- queues --------------------------------------------------------------------------------------


RATE_MAX = 1_000_000
# set_rate_limit's bounds of per: 1 millisecond to 1 year (365.25 days)
PER_MIN = 0.001
PER_MAX = 31_557_600


class RateLimit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Claims take at most ``rate`` tasks per ``per`` seconds, in bursts of at most ``burst``."""

    rate: Annotated[
        float,
        Meta(gt=0, le=RATE_MAX, description=f"tasks per period (above 0, at most {RATE_MAX})"),
    ]
    per: Annotated[
        float,
        Meta(
            ge=PER_MIN,
            le=PER_MAX,
            description="the period in seconds (0.001 to 31557600, a year); 1 when absent",
        ),
    ] = 1.0
    burst: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=RATE_MAX,
                description="the most claims at once after a quiet spell; the rate rounded up "
                "when absent",
            ),
        ]
        | None
    ) = None


class QueueOut(msgspec.Struct, kw_only=True):
    """A queue's settings and how many of its tasks are in each state."""

    queue: str
    concurrency: Annotated[int | None, Meta(description="slots; null means unlimited")]
    paused: bool
    queued: Annotated[int, Meta(description="QUEUED tasks that are due")]
    scheduled: Annotated[int, Meta(description="QUEUED tasks due later")]
    running: int
    paused_tasks: int
    completed: int
    failed: int
    cancelled: int
    oldest_wait: Annotated[
        float | None,
        Meta(description="seconds the longest-due QUEUED task has waited; null when none"),
    ]
    key_concurrency: Annotated[
        int | None,
        Meta(description="tasks of one concurrency key running at once; null: no key limit"),
    ] = None
    rate_limit: Annotated[
        RateLimit | None, Meta(description="the queue's rate limit; null: none")
    ] = None

    @classmethod
    def of(cls, stats: client.QueueStats) -> QueueOut:
        wait = stats.oldest_wait
        rate_limit = (
            None
            if stats.rate is None or stats.rate_per is None
            else RateLimit(
                rate=float(stats.rate), per=stats.rate_per.total_seconds(), burst=stats.rate_burst
            )
        )
        return cls(
            key_concurrency=stats.key_concurrency,
            rate_limit=rate_limit,
            queue=stats.queue,
            concurrency=stats.concurrency,
            paused=stats.paused,
            queued=stats.queued,
            scheduled=stats.scheduled,
            running=stats.running,
            paused_tasks=stats.paused_tasks,
            completed=stats.completed,
            failed=stats.failed,
            cancelled=stats.cancelled,
            oldest_wait=None if wait is None else wait.total_seconds(),
        )


class QueuePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What to change on a queue; an absent field is left as it is."""

    concurrency: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=CONCURRENCY_MAX,
                description=f"tasks of the queue that may run at once (1 to {CONCURRENCY_MAX}); "
                "null means unlimited",
            ),
        ]
        | UnsetType
        | None
    ) = UNSET
    paused: (
        Annotated[bool, Meta(description="true stops claims; false lets them go on")] | UnsetType
    ) = UNSET
    key_concurrency: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=CONCURRENCY_MAX,
                description="tasks with one concurrency key that may run at once (1 to "
                f"{CONCURRENCY_MAX}); null means no key limit",
            ),
        ]
        | UnsetType
        | None
    ) = UNSET
    rate_limit: (
        Annotated[RateLimit, Meta(description="limit the claims per period; null removes it")]
        | UnsetType
        | None
    ) = UNSET
    reason: Reason | None = None


# -- schedules -----------------------------------------------------------------------------------

TaskName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description="the handler that runs the task; default the schedule's name",
        examples=["send_email"],
    ),
]
Missed = Literal["once", "skip"]


class ScheduleOut(msgspec.Struct, kw_only=True):
    """A schedule (a row of ``taskq.schedule_info``): what it enqueues, when, and its next run."""

    name: str
    task_name: Annotated[str, Meta(description="the task each tick enqueues")]
    cron: str
    time_zone: Annotated[str, Meta(description="the IANA zone the cron is read in")]
    payload: Annotated[
        dict[str, Any],
        Meta(description='the task\'s payload, plus "_schedule": {name, tick, missed}'),
    ]
    queue: str
    priority: Priority
    max_attempts: int
    missed: Annotated[
        Missed, Meta(description="once: one task for ticks missed while nothing ran; skip: none")
    ]
    next_run_at: Annotated[
        Timestamp | None, Meta(description="the next tick, in UTC; null when none is left")
    ]
    last_run_at: Annotated[Timestamp | None, Meta(description="the tick of its last task")]
    last_task_id: UUID | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, row: client.Schedule) -> ScheduleOut:
        fields = _with_iso_times(row, "next_run_at", "last_run_at", "created_at", "updated_at")
        return msgspec.convert(fields, cls)


class SchedulePut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A schedule to create or replace. Absent (or null) fields take ``taskq.schedule``'s
    defaults, also when the schedule exists: a PUT replaces it whole."""

    cron: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=1000,
            description="5 fields (minute hour day-of-month month day-of-week), 6 with seconds "
            "first, or @yearly @monthly @weekly @daily @hourly",
            examples=["0 7 * * 1-5"],
        ),
    ]
    payload: (
        Annotated[dict[str, Any], Meta(description="a JSON object for the task; default {}")] | None
    ) = None
    queue: QueueName | None = None
    priority: (
        Annotated[Priority, Meta(description="LOW, MEDIUM or HIGH; default MEDIUM")] | None
    ) = None
    time_zone: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=NAME_MAX,
                description="an IANA time zone the cron is read in; default UTC",
                examples=["Europe/Paris"],
            ),
        ]
        | None
    ) = None
    max_attempts: (
        Annotated[
            int,
            Meta(ge=1, le=INT4_MAX, description="attempts of each task before FAILED; default 3"),
        ]
        | None
    ) = None
    task_name: TaskName | None = None
    missed: (
        Annotated[
            Missed,
            Meta(description="once (default): one task for the missed ticks; skip: none"),
        ]
        | None
    ) = None
    reason: Reason | None = None


# -- workers and throughput ----------------------------------------------------------------------


class WorkerOut(msgspec.Struct, kw_only=True):
    """A registered worker (a row of ``taskq.worker_info``): where it runs, what it claims, how
    many tasks it runs, and whether it is alive."""

    id: UUID
    name: str
    host: str | None
    pid: int | None
    queues: Annotated[list[str] | None, Meta(description="the queues it claims from; null: all")]
    task_names: Annotated[
        list[str] | None, Meta(description="the task names it handles; null: any")
    ]
    started_at: Timestamp
    heartbeat_at: Annotated[Timestamp, Meta(description="its last heartbeat")]
    lease: Annotated[float, Meta(description="seconds: the lease it claims with")]
    running: Annotated[int, Meta(description="its RUNNING tasks")]
    alive: Annotated[
        bool,
        Meta(description="false: presumed dead, its last heartbeat older than its lease"),
    ]

    @classmethod
    def of(cls, row: client.WorkerInfo) -> WorkerOut:
        fields = _with_iso_times(row, "started_at", "heartbeat_at")
        fields["lease"] = row.lease.total_seconds()
        return cls(**fields)


class ThroughputOut(msgspec.Struct, kw_only=True):
    """The tasks of a queue that finished in [bucket_start, bucket_end), by outcome."""

    queue: str
    bucket_start: Timestamp
    bucket_end: Timestamp
    completed: int
    failed: Annotated[int, Meta(description="FAILED for good (an attempt that retries is not)")]
    cancelled: int

    @classmethod
    def of(cls, row: client.Throughput) -> ThroughputOut:
        return cls(**_with_iso_times(row, "bucket_start", "bucket_end"))


# -- the audit trail -----------------------------------------------------------------------------


class AuditOut(msgspec.Struct, kw_only=True):
    """One admin act, as the audit trail recorded it."""

    id: int
    at: Timestamp
    action: Annotated[
        str, Meta(description="pause, resume, cancel, retry, set_concurrency, pause_queue, ...")
    ]
    task_id: Annotated[UUID | None, Meta(description="the task acted on; null for a queue act")]
    queue: Annotated[str | None, Meta(description="the queue acted on, or the task's queue")]
    before: Annotated[
        dict[str, Any] | None, Meta(description='what the act found, e.g. {"status": "QUEUED"}')
    ]
    after: Annotated[
        dict[str, Any] | None, Meta(description='what it left, e.g. {"status": "CANCELLED"}')
    ]
    db_user: Annotated[str, Meta(description="the database login that acted (session_user)")]
    actor: Annotated[
        str | None, Meta(description="who acted: the API token's name, or taskq.actor")
    ]
    reason: str | None

    @classmethod
    def of(cls, entry: client.AuditEntry) -> AuditOut:
        return cls(
            id=entry.id,
            at=utc_iso(entry.at),
            action=entry.action,
            task_id=entry.task_id,
            queue=entry.queue,
            before=entry.before,
            after=entry.after,
            db_user=entry.db_user,
            actor=entry.actor,
            reason=entry.reason,
        )


class AuditPageOut(msgspec.Struct, kw_only=True):
    """A keyset page of the audit trail, newest first; pass ``next_cursor`` as ``cursor``."""

    items: list[AuditOut]
    next_cursor: Annotated[
        int | None, Meta(description="the cursor of the next page; null on the last page")
    ]

    @classmethod
    def of(cls, page: client.AuditPage) -> AuditPageOut:
        return cls(items=[AuditOut.of(e) for e in page.items], next_cursor=page.next_cursor)


# -- the older API -------------------------------------------------------------------------------

LegacyStatus = Literal["In Queue", "Run", "Completed", "Paused", "Failed", "Cancelled"]

LEGACY_STATUS: dict[Status, LegacyStatus] = {
    "QUEUED": "In Queue",
    "RUNNING": "Run",
    "COMPLETED": "Completed",
    "PAUSED": "Paused",
    "FAILED": "Failed",
    "CANCELLED": "Cancelled",
}

LegacyTime = Annotated[
    str,
    Meta(
        pattern=r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
        description="YYYY-MM-DD HH:MM:SS in UTC",
        examples=["2026-11-23 18:00:00"],
    ),
]


def legacy_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class LegacyCreated(msgspec.Struct, kw_only=True):
    """The id of the task ``GET /task/create`` enqueued."""

    task_id: UUID


class LegacyTaskStatus(msgspec.Struct, kw_only=True):
    """A task in the older API's shape."""

    status: LegacyStatus
    create_time: LegacyTime
    start_time: LegacyTime | None
    time_to_execute: Annotated[
        int | None,
        Meta(description="whole seconds: finished - started, or elapsed while running"),
    ]

    @classmethod
    def of(cls, task: client.Task) -> LegacyTaskStatus:
        seconds = task.time_to_execute
        return cls(
            status=LEGACY_STATUS[task.status],
            create_time=legacy_time(task.created_at),
            start_time=None if task.started_at is None else legacy_time(task.started_at),
            time_to_execute=None if seconds is None else round(seconds),
        )


# -- health and problems -------------------------------------------------------------------------


class Health(msgspec.Struct, kw_only=True):
    """Whether the API can reach its database."""

    status: Literal["ok", "unavailable"]
    database: Literal["up", "down"]
    detail: str | None = None


ParamSource = Literal["body", "query", "path", "header", "cookie"]


class InvalidParam(msgspec.Struct, kw_only=True):
    """One bad input: which field (or parameter) and what is wrong with it."""

    name: str
    reason: str
    source: ParamSource | None = None


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem details body (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    invalid_params: list[InvalidParam] | None = None
    task_id: UUID | None = None
    task_status: Status | None = None
    hint: str | None = None


# -- table health ----------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else utc_iso(moment)


def _with_iso_times(row: msgspec.Struct, *times: str) -> dict[str, Any]:
    """The row's fields, the times among them as ISO 8601 strings in UTC."""
    fields = msgspec.structs.asdict(row)
    for key in times:
        fields[key] = _iso(fields[key])
    return fields


class TableHealthOut(msgspec.Struct, kw_only=True):
    """A table of schema taskq: sizes, tuples, last vacuum and analyze (taskq.table_health)."""

    table_name: str
    total_bytes: Annotated[int, Meta(description="table, TOAST and indexes")]
    table_bytes: Annotated[int, Meta(description="the table and its TOAST")]
    index_bytes: int
    live_tuples: Annotated[int, Meta(description="an estimate of the statistics")]
    dead_tuples: Annotated[int, Meta(description="an estimate of the statistics")]
    dead_fraction: Annotated[float, Meta(description="dead / (live + dead); 0 for no tuples")]
    n_mod_since_analyze: int
    n_ins_since_vacuum: int
    last_vacuum: Timestamp | None
    last_autovacuum: Timestamp | None
    last_analyze: Timestamp | None
    last_autoanalyze: Timestamp | None
    vacuum_count: int
    autovacuum_count: int
    analyze_count: int
    autoanalyze_count: int

    @classmethod
    def of(cls, row: client.TableHealth) -> TableHealthOut:
        fields = _with_iso_times(
            row, "last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze"
        )
        return cls(**fields)


class CleanupHolderOut(msgspec.Struct, kw_only=True):
    """Something that holds back VACUUM (taskq.cleanup_holders)."""

    holder: Annotated[
        str,
        Meta(
            description="session, standby feedback, prepared transaction, replication slot, "
            "replication slot catalog"
        ),
    ]
    pid: int | None
    name: Annotated[
        str | None, Meta(description="application_name, prepared transaction gid or slot name")
    ]
    database: str | None
    role: str | None
    state: str | None
    xmin: Annotated[int, Meta(description="the oldest transaction id it keeps visible")]
    xmin_age: Annotated[int, Meta(description="transactions since xmin")]
    since: Timestamp | None
    age: Annotated[float | None, Meta(description="seconds since `since`")]
    query_start: Timestamp | None
    holds_back_taskq: Annotated[bool, Meta(description="it keeps dead rows of the taskq tables")]
    is_horizon: Annotated[bool, Meta(description="the oldest of those that do")]

    @classmethod
    def of(cls, row: client.CleanupHolder) -> CleanupHolderOut:
        fields = msgspec.structs.asdict(row)
        fields.update(
            since=_iso(row.since),
            query_start=_iso(row.query_start),
            age=None if row.age is None else row.age.total_seconds(),
        )
        return cls(**fields)


class TablesHealthOut(msgspec.Struct, kw_only=True):
    """The taskq tables and what holds back their cleanup."""

    tables: list[TableHealthOut]
    cleanup_holders: list[CleanupHolderOut]
