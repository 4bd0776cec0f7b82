"""The typed wrapper of the SQL API: one SQL function call per operation.

Each SQL string is named after the function it calls. Rows map to msgspec Structs. Database
errors leave through :func:`taskq.errors.translate` as NotFound / Conflict / InvalidArgument.
On connections set up by :func:`taskq.decoding.configure` (every pooled one), a task row with a
value Python cannot represent still decodes: see :attr:`Task.undecodable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar, get_args, overload
from uuid import UUID

import msgspec
import psycopg
from msgspec import UNSET, UnsetType
from psycopg import sql
from psycopg.adapt import PyFormat
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from taskq.decoding import Undecodable
from taskq.errors import translate
from taskq.rules import Priority, Status
from taskq.tracing import current_trace_context

Connection = psycopg.AsyncConnection[Any]
TaskRow = TypeVar("TaskRow", bound="TaskSummary")
TaskT = TypeVar("TaskT", bound="TaskSummary")


class TaskSummary(msgspec.Struct, kw_only=True):
    """A row of taskq.tasks as a list gives it: ``payload`` and ``result`` are UNSET unless the
    list was asked for them (they can be large, and a list seldom needs them).

    ``undecodable`` names the columns whose value Python cannot represent (a payload nested too
    deep to decode, a time outside years 1-9999), with why; their fields hold a stand-in (an
    empty payload or errors list, None, the earliest or latest datetime). It is empty for every
    row the SQL functions wrote: they refuse such values.
    """

    id: UUID
    queue: str
    name: str
    payload: dict[str, Any] | UnsetType = UNSET
    priority: Priority
    status: Status
    scheduled_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    max_attempts: int
    last_error: str | None
    errors: list[dict[str, Any]]
    result: Any | UnsetType = UNSET
    worker_id: UUID | None
    lease_token: UUID | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    slot: int | None
    # the per-task options (taskq:task_options): None where the task was enqueued without them
    unique_key: str | None = None
    unique_for: timedelta | None = None
    concurrency_key: str | None = None
    timeout: timedelta | None = None
    progress: Any = None
    progress_at: datetime | None = None
    # the W3C trace context of what enqueued it ({"traceparent": ..., "tracestate": ...})
    trace_context: dict[str, str] | None = None
    # seconds: finished - started, or elapsed while RUNNING, else None (taskq.time_to_execute)
    time_to_execute: float | None = None
    undecodable: dict[str, str] = {}


class Task(TaskSummary, kw_only=True):
    """A row of taskq.tasks, whole."""

    payload: dict[str, Any]
    result: Any


class Claimed(msgspec.Struct):
    """A task as ``taskq.claim`` returns it: the columns a worker needs to run and report it (a
    row of type ``taskq.claimed``, in its column order). ``undecodable`` as in
    :class:`TaskSummary` (only ``payload`` can be)."""

    id: UUID
    queue: str
    name: str
    payload: dict[str, Any]
    priority: Priority
    attempts: int
    max_attempts: int
    lease_token: UUID
    lease_expires_at: datetime
    #: how long the attempt may run (the task's own timeout, else its queue's default;
    #: None: no limit)
    timeout: timedelta | None = None
    #: the W3C trace context of what enqueued it (None: none), which the handler's span continues
    trace_context: dict[str, Any] | None = None
    undecodable: dict[str, str] = {}

    @classmethod
    def of(cls, task: Task) -> Claimed:
        """The claimed columns of a whole row (``held_tasks``, ``claim_next``), with the task's
        own timeout only (``held_claims`` and ``claim`` add the queue's default)."""
        assert task.lease_token is not None, "a RUNNING task has a lease token"
        assert task.lease_expires_at is not None, "and a lease"
        return cls(
            task.id,
            task.queue,
            task.name,
            task.payload,
            task.priority,
            task.attempts,
            task.max_attempts,
            task.lease_token,
            task.lease_expires_at,
            task.timeout,
            task.trace_context,
            task.undecodable,
        )


# fields of a task that are not columns of taskq.tasks
_NOT_COLUMNS = ("time_to_execute", "undecodable")
# The columns a list of tasks leaves out unless asked for.
LargeField = Literal["payload", "result"]
LARGE_FIELDS: tuple[LargeField, ...] = get_args(LargeField)


class Queue(msgspec.Struct, kw_only=True):
    """A row of taskq.queues."""

    name: str
    concurrency: int | None
    paused: bool
    excess: int
    created_at: datetime
    #: how long one attempt of its tasks without a timeout of their own may run (None: no limit)
    default_timeout: timedelta | None = None
    # at most this many tasks of one concurrency_key run at once (None: no key limit)
    key_limit: int | None = None
    # claims take at most rate tasks per rate_per, in bursts of at most rate_burst (None: no limit)
    rate: Decimal | None = None
    rate_per: timedelta | None = None
    rate_burst: int | None = None


class Pruned(msgspec.Struct, kw_only=True):
    """What taskq.prune removed: finished tasks past their queue's retention, by status."""

    completed: int
    failed: int
    cancelled: int
    # audit rows past their retention (the FAILED one of their queue)
    audit_rows: int = 0

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.cancelled


class Maintained(Pruned, kw_only=True):
    """What taskq.maintain did: nothing when another was running (``ran`` false); else the dead
    workers it removed, the expired leases it rescued, and what it pruned (``more``: a full
    batch, call again)."""

    ran: bool
    workers_removed: int
    tasks_rescued: int
    more: bool


class QueueStats(msgspec.Struct, kw_only=True):
    """A row of the taskq.queue_stats view."""

    queue: str
    concurrency: int | None
    paused: bool
    queued: int
    scheduled: int
    running: int
    paused_tasks: int
    completed: int
    failed: int
    cancelled: int
    oldest_wait: timedelta | None
    unhandled: int = 0
    key_concurrency: int | None = None
    rate: Decimal | None = None
    rate_per: timedelta | None = None
    rate_burst: int | None = None

    @property
    def rate_limit(self) -> str | None:
        """The rate limit as a person reads it: ``20/1s, burst 20``; None without one."""
        if self.rate is None or self.rate_per is None:
            return None
        return (
            f"{self.rate.normalize():f}/{self.rate_per.total_seconds():g}s, burst {self.rate_burst}"
        )


class AuditEntry(msgspec.Struct, kw_only=True):
    """A row of the taskq.audit view: one admin act. ``before`` and ``after`` are what the act
    changed (``{"status": ...}``, ``{"concurrency": ...}``, ...), as it found and left it;
    ``db_user`` is the database login (session_user), ``actor`` the taskq.actor setting."""

    id: int
    at: datetime
    action: str
    task_id: UUID | None
    queue: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    db_user: str
    actor: str | None
    reason: str | None


class AuditPage(msgspec.Struct, kw_only=True):
    """One keyset page of the audit trail, newest first, and the cursor of the next page."""

    items: list[AuditEntry]
    next_cursor: int | None


class TableHealth(msgspec.Struct, kw_only=True):
    """A row of the taskq.table_health view: one table of the schema."""

    table_name: str
    total_bytes: int
    table_bytes: int
    index_bytes: int
    live_tuples: int
    dead_tuples: int
    dead_fraction: float
    n_mod_since_analyze: int
    n_ins_since_vacuum: int
    last_vacuum: datetime | None
    last_autovacuum: datetime | None
    last_analyze: datetime | None
    last_autoanalyze: datetime | None
    vacuum_count: int
    autovacuum_count: int
    analyze_count: int
    autoanalyze_count: int


class CleanupHolder(msgspec.Struct, kw_only=True):
    """A row of the taskq.cleanup_holders view: something that holds back VACUUM."""

    holder: str
    pid: int | None
    name: str | None
    database: str | None
    role: str | None
    state: str | None
    xmin: int
    xmin_age: int
    since: datetime | None
    age: timedelta | None
    query_start: datetime | None
    holds_back_taskq: bool
    is_horizon: bool


class TaskPage(msgspec.Struct, Generic[TaskRow], kw_only=True):
    """One keyset page of tasks, newest first, and the cursor of the next page."""

    items: list[TaskRow]
    next_cursor: UUID | None


@asynccontextmanager
async def sql_errors() -> AsyncIterator[None]:
    """Turn psycopg errors raised inside the block into taskq errors."""
    try:
        yield
    except psycopg.Error as error:
        raise translate(error) from error


async def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with sql_errors(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def _value(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    async with sql_errors(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(sql, params)
        row = await cur.fetchone()
        return None if row is None else row[0]


# stand-ins of the fields a None cannot stand in for
_EMPTY: dict[str, type[dict[str, Any]] | type[list[Any]]] = {"payload": dict, "errors": list}


def _task(row: dict[str, Any], row_type: type[TaskT] = Task) -> TaskT:  # type: ignore[assignment]
    undecodable = {key: value for key, value in row.items() if type(value) is Undecodable}
    if undecodable:
        row = dict(row, undecodable={key: value.reason for key, value in undecodable.items()})
        for key, value in undecodable.items():
            empty = _EMPTY.get(key)
            row[key] = value.placeholder if empty is None else empty()
    return msgspec.convert(row, row_type, from_attributes=False, strict=False)


async def _one_task(conn: Connection, sql: str, params: dict[str, Any]) -> Task:
    rows = await _rows(conn, sql, params)
    return _task(rows[0])


ENQUEUE = """
SELECT taskq.enqueue(name => %(name)s, payload => %(payload)s, priority => %(priority)s,
                     scheduled_at => %(scheduled_at)s, queue => %(queue)s,
                     max_attempts => %(max_attempts)s, unique_key => %(unique_key)s,
                     unique_for => %(unique_for)s, concurrency_key => %(concurrency_key)s,
                     timeout => %(timeout)s, trace_context => %(trace_context)s)
"""
ENQUEUE_MANY = """
SELECT id, created
FROM taskq.enqueue_many(names => %(name)s::text[], payloads => %(payload)s::jsonb[],
                        queues => %(queue)s::text[],
                        priorities => %(priority)s::taskq.priority[],
                        scheduled_ats => %(scheduled_at)s::timestamptz[],
                        max_attempts => %(max_attempts)s::integer[],
                        unique_keys => %(unique_key)s::text[],
                        unique_fors => %(unique_for)s::interval[],
                        concurrency_keys => %(concurrency_key)s::text[],
                        timeouts => %(timeout)s::interval[],
                        trace_contexts => %(trace_context)s::jsonb[])
"""
ENQUEUE_MANY_JSON = "SELECT id, created FROM taskq.enqueue_many(%(tasks)s)"
CLAIM_NEXT = """
SELECT t.*, taskq.time_to_execute(t)
FROM taskq.claim_next(worker_id => %(worker_id)s, queues => %(queues)s, names => %(names)s,
                      lease => %(lease)s, batch_size => %(batch_size)s) t
"""
# The lean forms the worker calls: the columns it uses, arrays in, a count or three columns out.
CLAIM = """
SELECT * FROM taskq.claim(worker_id => %(worker_id)s, queues => %(queues)s, names => %(names)s,
                          lease => %(lease)s, batch_size => %(batch_size)s)
"""
# The arrays travel as one array literal each (see _uuid_array): psycopg's list adapter costs
# several microseconds an element in Python, more than the rest of a worker's report.
COMPLETE_MANY_ARRAYS = """
SELECT taskq.complete_many(task_ids => %(task_ids)s::uuid[],
                           lease_tokens => %(lease_tokens)s::uuid[],
                           results => %(results)s::jsonb[])
"""
FAIL_MANY_ARRAYS = """
SELECT id, status, scheduled_at
FROM taskq.fail_many(task_ids => %(task_ids)s::uuid[], lease_tokens => %(lease_tokens)s::uuid[],
                     errors => %(errors)s::text[], retry_delays => %(retry_delays)s)
"""
COMPLETE = """
SELECT t.*, taskq.time_to_execute(t) FROM taskq.complete(%(task_id)s, %(lease_token)s, %(result)s) t
"""
FAIL = """
SELECT t.*, taskq.time_to_execute(t)
FROM taskq.fail(%(task_id)s, %(lease_token)s, %(error)s, %(retry_delay)s) t
"""
COMPLETE_MANY = "SELECT t.*, taskq.time_to_execute(t) FROM taskq.complete_many(%(results)s) t"
FAIL_MANY = "SELECT t.*, taskq.time_to_execute(t) FROM taskq.fail_many(%(failures)s) t"
HEARTBEAT = (
    "SELECT id FROM taskq.heartbeat(%(worker_id)s, %(lease)s, task_ids => %(task_ids)s) AS id"
)
# {function}: pause, resume, cancel or retry, which take the same arguments
TASK_ACT = (
    "SELECT t.*, taskq.time_to_execute(t)"
    " FROM taskq.{function}(%(task_id)s, reason => %(reason)s) t"
)
PAUSE = TASK_ACT.format(function="pause")
RESUME = TASK_ACT.format(function="resume")
CANCEL = TASK_ACT.format(function="cancel")
RETRY = TASK_ACT.format(function="retry")
GET_TASK = "SELECT t.*, taskq.time_to_execute(t) FROM taskq.get_task(%(task_id)s) t"
# {columns}: (p.task).column for each column of Task that the caller asked for (payload and
# result may be left out)
LIST_TASKS_PAGE = """
SELECT {columns}, taskq.time_to_execute(p.task), p.next_cursor
FROM taskq.list_tasks_page(status => %(status)s, queue => %(queue)s, name => %(name)s,
                           after => %(after)s, page_size => %(page_size)s) p
"""
REGISTER_WORKER = """
SELECT taskq.register_worker(name => %(name)s, queues => %(queues)s, host => %(host)s,
                             pid => %(pid)s, task_names => %(task_names)s)
"""
UNREGISTER_WORKER = "SELECT taskq.unregister_worker(%(worker_id)s)"
HELD_TASKS = "SELECT t.*, taskq.time_to_execute(t) FROM taskq.held_tasks(%(worker_id)s) t"
HELD_CLAIMS = "SELECT * FROM taskq.held_claims(%(worker_id)s)"
REPORT_PROGRESS = "SELECT taskq.report_progress(%(task_id)s, %(lease_token)s, %(progress)s::jsonb)"
REPORT_PROGRESS_MANY = """
SELECT * FROM taskq.report_progress(%(task_ids)s::uuid[], %(lease_tokens)s::uuid[],
                                    %(progress)s::jsonb[])
"""
SET_DEFAULT_TIMEOUT = (
    "SELECT * FROM taskq.set_default_timeout(%(queue)s, %(timeout)s, reason => %(reason)s)"
)
# by the server's clock, so that a worker whose clock differs from the server's still wakes on time
SECONDS_UNTIL_DUE = (
    "SELECT extract(epoch FROM taskq.next_due(%(queues)s) - clock_timestamp())::float8"
)
SET_CONCURRENCY = (
    "SELECT * FROM taskq.set_concurrency(%(queue)s, %(concurrency)s, reason => %(reason)s)"
)
SET_KEY_CONCURRENCY = (
    "SELECT * FROM taskq.set_key_concurrency(%(queue)s, %(key_limit)s, reason => %(reason)s)"
)
SET_RATE_LIMIT = """
SELECT * FROM taskq.set_rate_limit(%(queue)s, %(rate)s::numeric, per => %(per)s::interval,
                                   burst => %(burst)s, reason => %(reason)s)
"""
PAUSE_QUEUE = "SELECT * FROM taskq.pause_queue(%(queue)s, reason => %(reason)s)"
RESUME_QUEUE = "SELECT * FROM taskq.resume_queue(%(queue)s, reason => %(reason)s)"
LIST_AUDIT = """
SELECT (p.entry).*, p.next_cursor
FROM taskq.list_audit(task_id => %(task_id)s, queue => %(queue)s, action => %(action)s,
                      since => %(since)s, before => %(before)s, after => %(after)s,
                      page_size => %(page_size)s) p
"""
# transaction-local (is_local true): it ends with the transaction, so that it works behind
# PgBouncer in transaction pooling and never stays on a pooled connection
SET_ACTOR = "SELECT set_config('taskq.actor', %(actor)s, true)"
SET_RETENTION = """
SELECT * FROM taskq.set_retention(%(queue)s, {arguments}reason => %(reason)s)
"""
PRUNE = "SELECT * FROM taskq.prune(batch => %(batch)s, reason => %(reason)s)"
MAINTAIN = "SELECT * FROM taskq.maintain(batch => %(batch)s)"
QUEUE_STATS = "SELECT * FROM taskq.queue_stats ORDER BY queue"
GET_QUEUE_STATS = "SELECT * FROM taskq.get_queue_stats(%(queue)s)"
TABLE_HEALTH = "SELECT * FROM taskq.table_health"
CLEANUP_HOLDERS = "SELECT * FROM taskq.cleanup_holders"
LIST_WORKERS = "SELECT * FROM taskq.worker_info ORDER BY name, started_at, id"
THROUGHPUT = "SELECT * FROM taskq.throughput(%(bucket)s, %(buckets)s)"
LISTEN = "LISTEN {channel}"

# NOTIFY channels of the SQL side: the queue name on NOTIFY_CHANNEL whenever a queue may have
# work (enqueue, resume, retry, a freed slot, resume_queue); the worker id on CANCEL_CHANNEL
# when a RUNNING task of that worker gets cancel().
NOTIFY_CHANNEL = "taskq"
CANCEL_CHANNEL = "taskq_cancel"
# the schedule's name whenever schedule, declare_schedule or unschedule changed one
SCHEDULES_CHANNEL = "taskq_schedules"


async def enqueue(
    conn: Connection,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    priority: Priority | None = None,
    scheduled_at: datetime | None = None,
    queue: str | None = None,
    max_attempts: int | None = None,
    unique_key: str | None = None,
    unique_for: timedelta | None = None,
    concurrency_key: str | None = None,
    timeout: timedelta | None = None,  # noqa: ASYNC109 (the task's, not this call's)
    trace_context: Mapping[str, str] | None = None,
) -> UUID:
    """taskq.enqueue: a NULL (None) argument means its default (no key, no timeout).

    ``trace_context`` is a W3C trace context, ``{"traceparent": ..., "tracestate": ...}``; None
    takes the current OpenTelemetry span's, when there is one (:mod:`taskq.tracing`)."""
    if trace_context is None:
        trace_context = current_trace_context()
    value = await _value(
        conn,
        ENQUEUE,
        {
            "name": name,
            "payload": None if payload is None else Jsonb(payload),
            "priority": priority,
            "scheduled_at": scheduled_at,
            "queue": queue,
            "max_attempts": max_attempts,
            "unique_key": unique_key,
            "unique_for": unique_for,
            "concurrency_key": concurrency_key,
            "timeout": timeout,
            "trace_context": None
            if trace_context is None
            else Jsonb(
                dict(trace_context) if isinstance(trace_context, Mapping) else trace_context
            ),
        },
    )
    return UUID(str(value))


# enqueue_many's keys, the Python types the array form takes for each (None: the default)
_ENQUEUE_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "payload": (object,),  # any JSON value: the SQL refuses what is not an object
    "queue": (str,),
    "priority": (str,),
    "scheduled_at": (str, datetime),
    "max_attempts": (int,),
    "unique_key": (str,),
    "unique_for": (str, timedelta),
    "concurrency_key": (str,),
    "timeout": (str, timedelta),
    "trace_context": (dict,),
}
_ARRAY_OF_KEY = {
    "names": "name",
    "payloads": "payload",
    "queues": "queue",
    "priorities": "priority",
    "scheduled_ats": "scheduled_at",
    "max_attempts": "max_attempts",
    "unique_keys": "unique_key",
    "unique_fors": "unique_for",
    "concurrency_keys": "concurrency_key",
    "timeouts": "timeout",
    "trace_contexts": "trace_context",
}


def _enqueue_arrays(
    tasks: Sequence[Any], dumps: Callable[[Any], str]
) -> dict[str, str | None] | None:
    """The arguments of the array form of taskq.enqueue_many, or None when a task is something
    only the JSON form can refuse by name (not a dict, an unknown key, a value of another type).
    ``dumps`` writes a JSON value's text."""
    known = _ENQUEUE_KEYS.keys()
    present: set[str] = set()
    for task in tasks:
        if type(task) is not dict:
            return None
        keys = task.keys()
        if not keys <= known:
            return None
        present |= keys
    # Each array travels as one array literal (see _text_array), which the statement casts:
    # psycopg's list adapter costs several microseconds an element, a third of the call's time
    # for 1,000 tasks. A JSON value is the text psycopg's Jsonb would send (_json_text). A key
    # no task gives is a NULL array (every task takes the default) without a look at a task.
    arrays: dict[str, str | None] = dict.fromkeys(known)
    for key in ("name", *sorted(present - {"name"})):
        kinds = _ENQUEUE_KEYS[key]
        values = [task.get(key) for task in tasks]
        for value in values:
            if value is not None and not isinstance(value, kinds):
                return None
        if key == "max_attempts" and any(isinstance(value, bool) for value in values):
            return None  # a JSON true is not a number
        if key != "name" and all(value is None for value in values):
            continue  # every task takes the default
        if key in ("payload", "trace_context"):
            arrays[key] = _text_array([None if value is None else dumps(value) for value in values])
        elif key == "scheduled_at":
            arrays[key] = _text_array(
                [value.isoformat() if isinstance(value, datetime) else value for value in values]
            )
        elif key in ("unique_for", "timeout"):
            arrays[key] = _text_array([_interval_text(value) for value in values])
        elif key == "max_attempts":
            arrays[key] = _text_array([None if value is None else str(value) for value in values])
        else:
            arrays[key] = _text_array(values)
    return arrays


def _json_text(conn: Connection) -> Callable[[Any], str]:
    """A JSON value's text as psycopg's Jsonb would send it on ``conn``: with the ``dumps`` that
    ``psycopg.types.json.set_json_dumps`` set for it, else json.dumps."""
    adapters = conn.adapters
    dumper = adapters.get_dumper(Jsonb, PyFormat.TEXT)(Jsonb, adapters)

    def text(value: Any) -> str:
        data = dumper.dump(Jsonb(value))
        assert data is not None, "a JSON value has a text"
        return bytes(data).decode()

    return text


def _interval_text(value: str | timedelta | None) -> str | None:
    """An interval as PostgreSQL reads it: a timedelta exactly (days, seconds, microseconds), so
    that one array may hold timedeltas and texts alike."""
    if isinstance(value, timedelta):
        return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"
    return value


class Enqueued(msgspec.Struct, frozen=True):
    """One task of ``taskq.enqueue_many``'s answer: its id, and whether the call added it (False:
    its ``unique_key`` was taken, and ``id`` is the task that holds it)."""

    id: UUID
    created: bool


async def enqueue_many(conn: Connection, tasks: Sequence[dict[str, Any]]) -> list[UUID]:
    """taskq.enqueue_many: the ids in input order (:func:`enqueue_each` also says which are new)."""
    return [row[0] for row in await _enqueue_rows(conn, tasks)]


async def enqueue_each(conn: Connection, tasks: Sequence[dict[str, Any]]) -> list[Enqueued]:
    """taskq.enqueue_many: dicts keyed by enqueue's parameter names; one answer per task in input
    order. Tasks of one ``unique_key`` in the call answer the first of them.
    ``unique_for`` and ``timeout`` are timedeltas (or interval texts such as ``"5 minutes"``).

    The tasks go as the array form's columns (the faster call); a task the array form cannot
    carry goes with the others as the JSON form, whose error names it. Either way an error's
    ``field`` is ``tasks[i].key``, i counted from 0. A task without a ``trace_context`` gets the
    current OpenTelemetry span's, as in :func:`enqueue`.
    """
    return [Enqueued(row[0], row[1]) for row in await _enqueue_rows(conn, tasks)]


async def _enqueue_rows(conn: Connection, tasks: Sequence[dict[str, Any]]) -> list[Any]:
    """The (id, created) rows of taskq.enqueue_many for ``tasks`` (see :func:`enqueue_each`)."""
    current = current_trace_context()
    if current is not None:
        tasks = [
            {**task, "trace_context": current}
            if isinstance(task, Mapping) and task.get("trace_context") is None
            else task
            for task in tasks
        ]
    arrays = _enqueue_arrays(tasks, _json_text(conn))
    if arrays is None:
        json_tasks = [
            {
                key: _interval_text(value) if isinstance(value, timedelta) else value
                for key, value in task.items()
            }
            if type(task) is dict
            else task
            for task in tasks
        ]
        async with sql_errors(), conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(ENQUEUE_MANY_JSON, {"tasks": Jsonb(json_tasks)})
            return await cur.fetchall()
    try:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(ENQUEUE_MANY, arrays)
            return await cur.fetchall()
    except psycopg.Error as error:
        translated = translate(error)
        array, _, subscript = (translated.field or "").partition("[")
        if array in _ARRAY_OF_KEY and subscript[:-1].isdigit():
            translated.field = f"tasks[{int(subscript[:-1]) - 1}].{_ARRAY_OF_KEY[array]}"
        raise translated from error


async def claim_next(
    conn: Connection,
    worker_id: UUID,
    *,
    queues: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    lease: timedelta = timedelta(seconds=30),
    batch_size: int = 1,
) -> list[Task]:
    params = {
        "worker_id": worker_id,
        "queues": None if queues is None else list(queues),
        "names": None if names is None else list(names),
        "lease": lease,
        "batch_size": batch_size,
    }
    return [_task(row) for row in await _rows(conn, CLAIM_NEXT, params)]


def _uuid_array(values: Sequence[UUID]) -> str:
    """A uuid[] literal: {hex,hex,...} (PostgreSQL reads a uuid without its dashes)."""
    return "{" + ",".join([value.hex for value in values]) + "}"


def _text_array(values: Sequence[str | None]) -> str:
    """A text[] literal, each element quoted (backslash and double quote escaped), None NULL.
    A plain str met again (the name or queue of every task of a batch) is quoted once; a str
    subclass is quoted each time, since its own __eq__ and __hash__ could match another value."""
    quoted: dict[str | None, str] = {None: "NULL"}
    parts = []
    for value in values:
        text = quoted.get(value) if value is None or type(value) is str else None
        if text is None:
            assert value is not None
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if type(value) is str:
                quoted[value] = text
        parts.append(text)
    return "{" + ",".join(parts) + "}"


def _claimed(row: tuple[Any, ...]) -> Claimed:
    payload = row[3]
    if type(payload) is Undecodable:
        # a payload nested too deep to decode (written by SQL that bypassed enqueue)
        row = (*row[:3], {}, *row[4:], {"payload": payload.reason})
    return Claimed(*row)


async def claim(
    conn: Connection,
    worker_id: UUID,
    *,
    queues: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    lease: timedelta = timedelta(seconds=30),
    batch_size: int = 1,
) -> list[Claimed]:
    """taskq.claim: what :func:`claim_next` claims, as the columns a worker needs."""
    params = {
        "worker_id": worker_id,
        "queues": None if queues is None else list(queues),
        "names": None if names is None else list(names),
        "lease": lease,
        "batch_size": batch_size,
    }
    async with sql_errors(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(CLAIM, params)
        return [_claimed(row) for row in await cur.fetchall()]


async def complete_encoded(
    conn: Connection,
    task_ids: Sequence[UUID],
    lease_tokens: Sequence[UUID],
    results: Sequence[str | None],
) -> int:
    """taskq.complete_many(task_ids, lease_tokens, results): the tasks RUNNING -> COMPLETED,
    all or nothing, each result given as JSON text (None: no result); how many (all of them).

    A task not held under its lease token raises Conflict / NotFound naming it, and nothing
    changed."""
    params = {
        "task_ids": _uuid_array(task_ids),
        "lease_tokens": _uuid_array(lease_tokens),
        "results": _text_array(results),
    }
    return int(await _value(conn, COMPLETE_MANY_ARRAYS, params))


class FailResult(msgspec.Struct, frozen=True):
    """What :func:`fail_arrays` made of a task: QUEUED again (due at ``scheduled_at``), FAILED
    or CANCELLED."""

    id: UUID
    status: Status
    scheduled_at: datetime


async def fail_arrays(
    conn: Connection,
    task_ids: Sequence[UUID],
    lease_tokens: Sequence[UUID],
    errors: Sequence[str],
    retry_delays: Sequence[timedelta | None] | None = None,
) -> list[FailResult]:
    """taskq.fail_many(task_ids, lease_tokens, errors, retry_delays): what :func:`fail` does,
    for many tasks in one call, all or nothing; in input order."""
    params = {
        "task_ids": _uuid_array(task_ids),
        "lease_tokens": _uuid_array(lease_tokens),
        "errors": _text_array(errors),
        "retry_delays": None if retry_delays is None else list(retry_delays),
    }
    async with sql_errors(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(FAIL_MANY_ARRAYS, params)
        return [FailResult(*row) for row in await cur.fetchall()]


async def complete(conn: Connection, task_id: UUID, lease_token: UUID, result: Any = None) -> Task:
    params = {"task_id": task_id, "lease_token": lease_token, "result": Jsonb(result)}
    return await _one_task(conn, COMPLETE, params)


async def fail(
    conn: Connection,
    task_id: UUID,
    lease_token: UUID,
    error: str,
    retry_delay: timedelta | None = None,
) -> Task:
    params = {
        "task_id": task_id,
        "lease_token": lease_token,
        "error": error,
        "retry_delay": retry_delay,
    }
    return await _one_task(conn, FAIL, params)


class Completion(msgspec.Struct, frozen=True):
    """One item of :func:`complete_many`: a task this worker holds, and its result."""

    task_id: UUID
    lease_token: UUID
    result: Any = None


class Failure(msgspec.Struct, frozen=True):
    """One item of :func:`fail_many`; ``retry_delay`` None means taskq.backoff(attempts)."""

    task_id: UUID
    lease_token: UUID
    error: str
    retry_delay: timedelta | None = None


async def complete_many(conn: Connection, completions: Sequence[Completion]) -> list[Task]:
    """taskq.complete_many: every task RUNNING -> COMPLETED in one call, all or nothing.

    Returns the tasks in input order. A task not held under its lease_token raises Conflict
    (nothing changed); complete them one by one with :func:`complete` to settle the rest."""
    if not completions:
        return []
    results = [
        {"task_id": str(c.task_id), "lease_token": str(c.lease_token), "result": c.result}
        for c in completions
    ]
    return [_task(row) for row in await _rows(conn, COMPLETE_MANY, {"results": Jsonb(results)})]


async def fail_many(conn: Connection, failures: Sequence[Failure]) -> list[Task]:
    """taskq.fail_many: what :func:`fail` does, for many tasks in one call, all or nothing."""
    if not failures:
        return []
    items: list[dict[str, Any]] = []
    for f in failures:
        item: dict[str, Any] = {
            "task_id": str(f.task_id),
            "lease_token": str(f.lease_token),
            "error": f.error,
        }
        if f.retry_delay is not None:
            item["retry_delay"] = f"{f.retry_delay.total_seconds()} seconds"
        items.append(item)
    return [_task(row) for row in await _rows(conn, FAIL_MANY, {"failures": Jsonb(items)})]


async def heartbeat(
    conn: Connection, worker_id: UUID, lease: timedelta, task_ids: Sequence[UUID] | None = None
) -> list[UUID]:
    """Extend the leases of the worker's RUNNING tasks (only ``task_ids`` when given); the ids
    of those whose cancellation was asked."""
    params = {
        "worker_id": worker_id,
        "lease": lease,
        "task_ids": None if task_ids is None else list(task_ids),
    }
    rows = await _rows(conn, HEARTBEAT, params)
    return [row["id"] for row in rows]


# The admin acts (pause, resume, cancel, retry and the queue settings) each write one row of the
# audit trail, with the optional ``reason`` and the actor of :func:`acting_as`.


async def pause(conn: Connection, task_id: UUID, *, reason: str | None = None) -> Task:
    return await _one_task(conn, PAUSE, {"task_id": task_id, "reason": reason})


async def resume(conn: Connection, task_id: UUID, *, reason: str | None = None) -> Task:
    return await _one_task(conn, RESUME, {"task_id": task_id, "reason": reason})


async def cancel(conn: Connection, task_id: UUID, *, reason: str | None = None) -> Task:
    return await _one_task(conn, CANCEL, {"task_id": task_id, "reason": reason})


async def retry(conn: Connection, task_id: UUID, *, reason: str | None = None) -> Task:
    return await _one_task(conn, RETRY, {"task_id": task_id, "reason": reason})


async def set_actor(conn: Connection, actor: str) -> None:
    """Name who acts in the current transaction (taskq.actor, which the audit trail records);
    it ends with the transaction. Outside a transaction (autocommit) it would end at once: use
    :func:`acting_as`."""
    await _value(conn, SET_ACTOR, {"actor": actor})


@asynccontextmanager
async def acting_as(conn: Connection, actor: str | None) -> AsyncIterator[None]:
    """A transaction on ``conn`` whose admin acts the audit trail records as done by ``actor``
    (None: no actor, and no transaction is opened). The setting is transaction-local
    (``set_config(..., true)``), so it works behind PgBouncer in transaction pooling."""
    if actor is None:
        yield
        return
    async with sql_errors(), conn.transaction():
        await set_actor(conn, actor)
        yield


async def list_audit(
    conn: Connection,
    *,
    task_id: UUID | None = None,
    queue: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    after: int | None = None,
    page_size: int = 50,
) -> AuditPage:
    """taskq.list_audit: newest first; ``since`` <= at < ``before``; ``after`` is the previous
    page's ``next_cursor``."""
    params = {
        "task_id": task_id,
        "queue": queue,
        "action": action,
        "since": since,
        "before": before,
        "after": after,
        "page_size": page_size,
    }
    rows = await _rows(conn, LIST_AUDIT, params)
    next_cursor = rows[0]["next_cursor"] if rows else None
    items = [msgspec.convert(row, AuditEntry, strict=False) for row in rows]
    return AuditPage(items=items, next_cursor=next_cursor)


async def get_task(conn: Connection, task_id: UUID) -> Task:
    return await _one_task(conn, GET_TASK, {"task_id": task_id})


@overload
async def list_tasks(
    conn: Connection,
    *,
    status: Status | None = None,
    queue: str | None = None,
    name: str | None = None,
    after: UUID | None = None,
    page_size: int = 50,
    include: None = None,
) -> TaskPage[Task]: ...


@overload
async def list_tasks(
    conn: Connection,
    *,
    status: Status | None = None,
    queue: str | None = None,
    name: str | None = None,
    after: UUID | None = None,
    page_size: int = 50,
    include: Collection[LargeField],
) -> TaskPage[TaskSummary]: ...


async def list_tasks(
    conn: Connection,
    *,
    status: Status | None = None,
    queue: str | None = None,
    name: str | None = None,
    after: UUID | None = None,
    page_size: int = 50,
    include: Collection[LargeField] | None = None,
) -> TaskPage[Task] | TaskPage[TaskSummary]:
    """taskq.list_tasks_page: newest first; ``after`` is the previous page's ``next_cursor``.

    Without ``include`` the tasks come whole; with it, ``payload`` and ``result`` are read (and
    set) only when ``include`` names them, and the database does not send them otherwise."""
    params = {"status": status, "queue": queue, "name": name, "after": after}
    row_type: type[TaskSummary] = Task if include is None else TaskSummary
    left_out = {*(() if include is None else set(LARGE_FIELDS) - set(include)), *_NOT_COLUMNS}
    columns = ", ".join(f"(p.task).{f}" for f in Task.__struct_fields__ if f not in left_out)
    sql = LIST_TASKS_PAGE.format(columns=columns)
    rows = await _rows(conn, sql, {**params, "page_size": page_size})
    next_cursor = rows[0]["next_cursor"] if rows else None
    items = [_task(row, row_type) for row in rows]
    return TaskPage(items=items, next_cursor=next_cursor)


async def register_worker(
    conn: Connection,
    name: str,
    *,
    queues: Sequence[str] | None = None,
    host: str | None = None,
    pid: int | None = None,
    task_names: Sequence[str] | None = None,
) -> UUID:
    """taskq.register_worker: ``queues`` it serves and ``task_names`` it has handlers for (None:
    all queues, any name), which ``taskq.unhandled_tasks`` reads."""
    params = {
        "name": name,
        "queues": None if queues is None else list(queues),
        "host": host,
        "pid": pid,
        "task_names": None if task_names is None else list(task_names),
    }
    return UUID(str(await _value(conn, REGISTER_WORKER, params)))


async def unregister_worker(conn: Connection, worker_id: UUID) -> int:
    return int(await _value(conn, UNREGISTER_WORKER, {"worker_id": worker_id}))


async def held_tasks(conn: Connection, worker_id: UUID) -> list[Task]:
    """taskq.held_tasks: the worker's RUNNING tasks, with their lease tokens (NotFound for an
    unknown worker)."""
    return [_task(row) for row in await _rows(conn, HELD_TASKS, {"worker_id": worker_id})]


async def held_claims(conn: Connection, worker_id: UUID) -> list[Claimed]:
    """taskq.held_claims: the worker's RUNNING tasks as ``taskq.claim`` returns them, with
    their timeouts (NotFound for an unknown worker)."""
    async with sql_errors(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(HELD_CLAIMS, {"worker_id": worker_id})
        return [_claimed(row) for row in await cur.fetchall()]


async def report_progress(
    conn: Connection, task_id: UUID, lease_token: UUID, progress: str | None
) -> datetime:
    """taskq.report_progress: store ``progress`` (JSON text; None clears it) on the RUNNING task
    held by ``lease_token``; when it was stored. NotFound / Conflict when the task is unknown or
    not held by that token, InvalidArgument for a value too large or too deep."""
    params = {"task_id": task_id, "lease_token": lease_token, "progress": progress}
    value = await _value(conn, REPORT_PROGRESS, params)
    assert isinstance(value, datetime)
    return value


async def report_progress_many(
    conn: Connection,
    task_ids: Sequence[UUID],
    lease_tokens: Sequence[UUID],
    progress: Sequence[str | None],
) -> set[UUID]:
    """The array form of :func:`report_progress`: the ids whose value was stored (a task no
    longer held by its token is skipped)."""
    params = {
        "task_ids": list(task_ids),
        "lease_tokens": list(lease_tokens),
        "progress": list(progress),
    }
    async with sql_errors(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(REPORT_PROGRESS_MANY, params)
        return {row[0] for row in await cur.fetchall()}


async def seconds_until_due(conn: Connection, queues: Sequence[str] | None = None) -> float | None:
    """Seconds from now until ``taskq.next_due``, by the server's clock (not positive: due
    already); None when no scheduled task waits."""
    params = {"queues": None if queues is None else list(queues)}
    value = await _value(conn, SECONDS_UNTIL_DUE, params)
    return None if value is None else float(value)


def _queue(row: dict[str, Any]) -> Queue:
    return msgspec.convert(row, Queue, strict=False)


async def set_concurrency(
    conn: Connection, queue: str, concurrency: int | None, *, reason: str | None = None
) -> Queue:
    params = {"queue": queue, "concurrency": concurrency, "reason": reason}
    return _queue((await _rows(conn, SET_CONCURRENCY, params))[0])


async def set_default_timeout(
    conn: Connection,
    queue: str,
    timeout: timedelta | None,  # noqa: ASYNC109
    *,
    reason: str | None = None,
) -> Queue:
    """taskq.set_default_timeout: how long one attempt of the queue's tasks without a timeout of
    their own may run (None: no limit)."""
    params = {"queue": queue, "timeout": timeout, "reason": reason}
    return _queue((await _rows(conn, SET_DEFAULT_TIMEOUT, params))[0])


async def set_key_concurrency(
    conn: Connection, queue: str, key_limit: int | None, *, reason: str | None = None
) -> Queue:
    """At most ``key_limit`` tasks of one concurrency_key run at once in ``queue`` (None: no
    key limit)."""
    params = {"queue": queue, "key_limit": key_limit, "reason": reason}
    return _queue((await _rows(conn, SET_KEY_CONCURRENCY, params))[0])


async def set_rate_limit(
    conn: Connection,
    queue: str,
    rate: Decimal | float | None,
    *,
    per: timedelta = timedelta(seconds=1),
    burst: int | None = None,
    reason: str | None = None,
) -> Queue:
    """Claims take at most ``rate`` tasks per ``per`` from ``queue``, in bursts of at most
    ``burst`` (None: the rate, rounded up); ``rate`` None removes the limit."""
    params = {
        "queue": queue,
        "rate": None if rate is None else Decimal(str(rate)),
        "per": per,
        "burst": burst,
        "reason": reason,
    }
    return _queue((await _rows(conn, SET_RATE_LIMIT, params))[0])


async def pause_queue(conn: Connection, queue: str, *, reason: str | None = None) -> Queue:
    return _queue((await _rows(conn, PAUSE_QUEUE, {"queue": queue, "reason": reason}))[0])


async def resume_queue(conn: Connection, queue: str, *, reason: str | None = None) -> Queue:
    return _queue((await _rows(conn, RESUME_QUEUE, {"queue": queue, "reason": reason}))[0])


async def set_retention(
    conn: Connection,
    queue: str,
    *,
    completed: timedelta | UnsetType | None = UNSET,
    failed: timedelta | UnsetType | None = UNSET,
    cancelled: timedelta | UnsetType | None = UNSET,
    reason: str | None = None,
) -> Queue:
    """taskq.set_retention: how long the queue keeps its finished tasks, by status (None: for
    ever); a retention left out (UNSET) stays as it is. An admin act, audited with ``reason``."""
    given = {
        key: value
        for key, value in (("completed", completed), ("failed", failed), ("cancelled", cancelled))
        if value is not UNSET
    }
    arguments = sql.SQL("").join(
        sql.SQL("{} => {}::interval, ").format(sql.Identifier(key), sql.Placeholder(key))
        for key in given
    )
    statement = sql.SQL(SET_RETENTION).format(arguments=arguments)
    async with sql_errors(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, {"queue": queue, "reason": reason, **given})
        row = await cur.fetchone()
    assert row is not None
    return _queue(row)


async def prune(conn: Connection, batch: int = 10000, *, reason: str | None = None) -> Pruned:
    """taskq.prune: remove at most ``batch`` finished tasks (and audit rows) past their
    queue's retention; an admin act, audited with ``reason``."""
    params = {"batch": batch, "reason": reason}
    return msgspec.convert((await _rows(conn, PRUNE, params))[0], Pruned)


async def maintain(conn: Connection, batch: int = 10000) -> Maintained:
    """taskq.maintain: dead workers, expired leases and one prune, unless another runs."""
    return msgspec.convert((await _rows(conn, MAINTAIN, {"batch": batch}))[0], Maintained)


def _queue_stats(row: dict[str, Any]) -> QueueStats:
    return msgspec.convert(row, QueueStats, strict=False)


async def queue_stats(conn: Connection) -> list[QueueStats]:
    return [_queue_stats(row) for row in await _rows(conn, QUEUE_STATS, {})]


async def get_queue_stats(conn: Connection, queue: str) -> QueueStats:
    """The queue's row of taskq.queue_stats; NotFound when the queue does not exist."""
    return _queue_stats((await _rows(conn, GET_QUEUE_STATS, {"queue": queue}))[0])


class WorkerInfo(msgspec.Struct, kw_only=True):
    """A row of taskq.worker_info: a registered worker, its running tasks, and whether its last
    heartbeat is within its lease (alive) or older (presumed dead)."""

    id: UUID
    name: str
    host: str | None
    pid: int | None
    queues: list[str] | None
    task_names: list[str] | None
    started_at: datetime
    heartbeat_at: datetime
    lease: timedelta
    running: int
    alive: bool


class Throughput(msgspec.Struct, kw_only=True):
    """A row of taskq.throughput: the tasks of a queue that finished in [bucket_start,
    bucket_end), by outcome."""

    queue: str
    bucket_start: datetime
    bucket_end: datetime
    completed: int
    failed: int
    cancelled: int


async def list_workers(conn: Connection) -> list[WorkerInfo]:
    """The taskq.worker_info rows, by name then start."""
    return [msgspec.convert(row, WorkerInfo) for row in await _rows(conn, LIST_WORKERS, {})]


async def throughput(
    conn: Connection, bucket: timedelta = timedelta(minutes=1), buckets: int = 30
) -> list[Throughput]:
    """taskq.throughput: per queue, the tasks finished in each of the last `buckets` stretches of
    `bucket`, oldest first; InvalidArgument unless 1 s <= bucket <= 1 day, 1 <= buckets <= 1440."""
    rows = await _rows(conn, THROUGHPUT, {"bucket": bucket, "buckets": buckets})
    return [msgspec.convert(row, Throughput) for row in rows]


async def table_health(conn: Connection) -> list[TableHealth]:
    """The taskq.table_health rows: each table's sizes, dead tuples, last vacuum and analyze."""
    rows = await _rows(conn, TABLE_HEALTH, {})
    return [msgspec.convert(row, TableHealth, strict=False) for row in rows]


async def cleanup_holders(conn: Connection) -> list[CleanupHolder]:
    """The taskq.cleanup_holders rows: what holds back VACUUM, oldest first."""
    rows = await _rows(conn, CLEANUP_HOLDERS, {})
    # xid has no Python type: psycopg hands it over as text
    return [msgspec.convert(row, CleanupHolder, strict=False) for row in rows]


async def listen(conn: Connection, channel: str) -> None:
    """LISTEN on a channel; read the notifications with ``conn.notifies()``."""
    async with sql_errors():
        await conn.execute(sql.SQL(LISTEN).format(channel=sql.Identifier(channel)))


class Schedule(msgspec.Struct, kw_only=True):
    """A row of taskq.schedule_info: a periodic task and its next run (None: no tick left)."""

    name: str
    task_name: str
    cron: str
    time_zone: str
    payload: dict[str, Any]
    queue: str
    priority: str
    max_attempts: int
    missed: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_task_id: UUID | None
    created_at: datetime
    updated_at: datetime


class SchedulesRun(msgspec.Struct, kw_only=True):
    """What taskq.run_schedules did: tasks enqueued, the earliest next run of all schedules and
    the seconds until it by the database's clock (None: no schedule)."""

    enqueued: int
    next_run_at: datetime | None
    seconds_until: float | None


_SCHEDULE_ARGUMENTS = (
    "%(name)s, %(cron)s, payload => %(payload)s, queue => %(queue)s, priority => %(priority)s,"
    " time_zone => %(time_zone)s, max_attempts => %(max_attempts)s, task_name => %(task_name)s,"
    " missed => %(missed)s"
)
SCHEDULE = f"SELECT * FROM taskq.schedule({_SCHEDULE_ARGUMENTS}, reason => %(reason)s)"
DECLARE_SCHEDULE = f"SELECT * FROM taskq.declare_schedule({_SCHEDULE_ARGUMENTS})"
UNSCHEDULE = "SELECT * FROM taskq.unschedule(%(name)s, reason => %(reason)s)"
LIST_SCHEDULES = "SELECT * FROM taskq.schedule_info ORDER BY name"
GET_SCHEDULE = "SELECT * FROM taskq.get_schedule(%(name)s)"
RUN_SCHEDULES = (
    "SELECT r.enqueued, r.next_run_at,"
    " extract(epoch FROM r.next_run_at - clock_timestamp())::float8 AS seconds_until"
    " FROM taskq.run_schedules() r"
)


def _schedule(row: dict[str, Any]) -> Schedule:
    return msgspec.convert({k: v for k, v in row.items() if k != "next_run_local"}, Schedule)


async def schedule(
    conn: Connection,
    name: str,
    cron: str,
    *,
    payload: dict[str, Any] | None = None,
    queue: str = "default",
    priority: str = "MEDIUM",
    time_zone: str = "UTC",
    max_attempts: int = 3,
    task_name: str | None = None,
    missed: str = "once",
    reason: str | None = None,
    declare: bool = False,
) -> Schedule:
    """taskq.schedule (an admin act, with reason), or taskq.declare_schedule with ``declare``
    (what a worker calls for its handlers' schedules): creates or replaces the schedule."""
    params = {
        "name": name,
        "cron": cron,
        "payload": Jsonb({} if payload is None else payload),
        "queue": queue,
        "priority": priority,
        "time_zone": time_zone,
        "max_attempts": max_attempts,
        "task_name": task_name,
        "missed": missed,
        "reason": reason,
    }
    return _schedule((await _rows(conn, DECLARE_SCHEDULE if declare else SCHEDULE, params))[0])


async def unschedule(conn: Connection, name: str, *, reason: str | None = None) -> Schedule:
    """taskq.unschedule: removes the schedule and returns its last row; NotFound when unknown."""
    return _schedule((await _rows(conn, UNSCHEDULE, {"name": name, "reason": reason}))[0])


async def list_schedules(conn: Connection) -> list[Schedule]:
    return [_schedule(row) for row in await _rows(conn, LIST_SCHEDULES, {})]


async def get_schedule(conn: Connection, name: str) -> Schedule:
    """taskq.get_schedule: the schedule's row of schedule_info; NotFound when unknown."""
    return _schedule((await _rows(conn, GET_SCHEDULE, {"name": name}))[0])


async def run_schedules(conn: Connection) -> SchedulesRun:
    """taskq.run_schedules: enqueue the due ticks (each once, whoever else calls it)."""
    return msgspec.convert((await _rows(conn, RUN_SCHEDULES, {}))[0], SchedulesRun)
