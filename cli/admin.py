"""Admin subcommands of the ``taskq`` CLI: each is one call of the SQL API.

Output is a readable table (or ``key: value`` lines) for people, and JSON with ``--json``.
Errors are one line on stderr and an exit status by the error's class (:func:`exit_status`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import types
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict

from cli.options import add_database_option, database_url
from taskq import client, decoding
from taskq.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    SchemaMissing,
    TaskqError,
    Unavailable,
)
from taskq.pool import connect
from taskq.rules import PAGE_MAX, PRIORITIES, STATUSES
from taskq.settings import connection_problem

T = TypeVar("T")

# The exit status of a command that failed, by the class of its error, so that a script tells
# them apart without reading the message: 2 a bad argument (as argparse's usage errors), 3 no
# such task or queue, 4 the task's status does not allow it, 5 the taskq schema is not deployed;
# 1 any other error (the database cannot be reached, nothing is running here, ...).
EXIT_STATUSES: tuple[tuple[type[TaskqError], int], ...] = (
    (InvalidArgument, 2),
    (NotFound, 3),
    (Conflict, 4),
    (SchemaMissing, 5),
)


def exit_status(error: BaseException) -> int:
    return next((status for kind, status in EXIT_STATUSES if isinstance(error, kind)), 1)


TASK_COLUMNS = ("id", "name", "queue", "priority", "status", "scheduled_at", "attempts")
AUDIT_COLUMNS = (
    "id",
    "at",
    "action",
    "task_id",
    "queue",
    "before",
    "after",
    "actor",
    "db_user",
    "reason",
)
# the actor the audit trail records for the admin commands when --actor is not given
ACTOR_ENV = "TASKQ_ACTOR"
QUEUE_COLUMNS = (
    "queue",
    "concurrency",
    "paused",
    "queued",
    "unhandled",
    "scheduled",
    "running",
    "paused_tasks",
    "completed",
    "failed",
    "cancelled",
    "oldest_wait",
    "key_concurrency",
    "rate_limit",
)
# --rate: a number of tasks, per second unless a period follows
RATE_PERIODS = {
    "s": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "second": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "minute": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "hour": timedelta(hours=1),
    "d": timedelta(days=1),
    "day": timedelta(days=1),
}
RATE_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:/\s*([a-z]+))?\s*")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def place_of(url: str) -> str:
    """``host:port/dbname`` of a database URL, for messages (never its password)."""
    where = conninfo_to_dict(url)
    return f"{where.get('host', 'localhost')}:{where.get('port', 5432)}/{where.get('dbname', '')}"


async def open_connection(url: str, connect_timeout: int = 10) -> client.Connection:
    """An autocommit connection to ``url``; Unavailable naming the place and the problem."""
    try:
        conn = await connect(url, connect_timeout=connect_timeout)
    except psycopg.Error as error:
        raise Unavailable(
            f"cannot connect to the database at {place_of(url)}: {connection_problem(error)}"
        ) from error
    decoding.configure(conn)
    return conn


async def _with_connection(url: str, call: Callable[[client.Connection], Awaitable[T]]) -> T:
    async with await open_connection(url) as conn:
        try:
            return await call(conn)
        except SchemaMissing as error:
            raise SchemaMissing(
                "the taskq schema is not deployed in this database: run `taskq migrate`",
                error.sqlstate,
            ) from error


def run_call(args: argparse.Namespace, call: Callable[[client.Connection], Awaitable[T]]) -> T:
    return asyncio.run(_with_connection(database_url(args), call))


# --- output ---------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a Struct, list or scalar."""
    return msgspec.to_builtins(value, builtin_types=(), enc_hook=_encode)


def _encode(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise NotImplementedError(type(value))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():.1f}s"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def table(rows: Sequence[Any], columns: Sequence[str]) -> str:
    cells = [[_cell(getattr(row, column)) for column in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def describe(task: client.Task) -> str:
    fields: list[tuple[str, Any]] = [
        ("id", task.id),
        ("name", task.name),
        ("queue", task.queue),
        ("status", task.status),
        ("priority", task.priority),
        ("payload", json.dumps(task.payload)),
        ("scheduled_at", task.scheduled_at),
        ("created_at", task.created_at),
        ("started_at", task.started_at),
        ("finished_at", task.finished_at),
        ("attempts", f"{task.attempts} of {task.max_attempts}"),
        ("time_to_execute", task.time_to_execute),
        ("last_error", task.last_error),
        ("result", None if task.result is None else json.dumps(task.result)),
        ("progress", None if task.progress is None else json.dumps(task.progress)),
        ("progress_at", task.progress_at),
    ]
    width = max(len(key) for key, _ in fields)
    return "\n".join(f"{key.ljust(width)}  {_cell(value)}" for key, value in fields)


def emit(args: argparse.Namespace, value: Any, text: str) -> None:
    print(json.dumps(plain(value), indent=2) if args.json else text)


# --- argument parsing -----------------------------------------------------------------------

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")
_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str) -> datetime:
    """ISO 8601 (no offset = UTC) or a delay from now: ``+30s``, ``+5m``, ``+2h``, ``+1d``."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        seconds = float(relative.group(1)) * _UNITS[relative.group(2)]
        return datetime.now(UTC) + timedelta(seconds=seconds)
    return _iso_time(text, "--at", "+30s/+5m/+2h/+1d")


def _iso_time(text: str, option: str, or_else: str) -> datetime:
    """An ISO 8601 time, UTC without an offset; InvalidArgument naming ``option`` and the other
    forms it takes (``or_else``)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise InvalidArgument(
            f"{option} {text!r} is not a time: use ISO 8601 (2030-01-01T10:00:00) or {or_else}"
        ) from error
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_duration(text: str | None, option: str) -> timedelta | None:
    """How long: ``30s``, ``5m``, ``2h``, ``1d`` (None stays None)."""
    if text is None:
        return None
    length = _AGO.match(text.strip())
    if not length:
        raise InvalidArgument(f"{option} {text!r} is not a duration: use 30s, 5m, 2h or 1d")
    try:
        return timedelta(seconds=float(length.group(1)) * _UNITS[length.group(2)])
    except OverflowError:
        raise InvalidArgument(f"{option} {text}: too long") from None


def parse_past(text: str, option: str) -> datetime:
    """ISO 8601 (no offset = UTC) or how long ago: ``30s``, ``5m``, ``2h``, ``1d``."""
    ago = _AGO.match(text.strip())
    if ago:
        seconds = float(ago.group(1)) * _UNITS[ago.group(2)]
        try:
            return datetime.now(UTC) - timedelta(seconds=seconds)
        except OverflowError:
            raise InvalidArgument(f"{option} {text}: too long ago (before the year 1)") from None
    return _iso_time(text, option, "how long ago: 30s, 5m, 2h, 1d")


def read_payload(text: str | None) -> str | None:
    """The ``--payload`` text: the argument itself, ``@FILE`` for a file's contents, ``-`` for
    standard input (for payloads too large for a command line)."""
    if text is None or not (text == "-" or text.startswith("@")):
        return text
    try:
        if text == "-":
            return sys.stdin.read()
        return Path(text[1:]).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidArgument(f"--payload {text}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise InvalidArgument(f"--payload {text} is not UTF-8 text: {error.reason}") from error


def parse_payload(text: str | None) -> dict[str, Any] | None:
    text = read_payload(text)
    if text is None:
        return None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgument(
            f"--payload is not JSON: {error.msg} at character {error.pos}"
        ) from error
    except RecursionError:
        raise InvalidArgument("--payload is nested too deeply to read") from None
    if not isinstance(payload, dict):
        raise InvalidArgument(
            '--payload must be a JSON object, such as \'{"to": "a@example.com"}\''
        )
    return payload


def parse_include(text: str | None) -> list[client.LargeField]:
    """``--include payload,result``: the large fields a list shows too (none by default)."""
    names = [] if text is None else [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in client.LARGE_FIELDS]
    if unknown:
        raise InvalidArgument(
            f"--include takes payload, result or payload,result, not {unknown[0]!r}"
        )
    return [field for field in client.LARGE_FIELDS if field in names]


def parse_task_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as error:
        raise InvalidArgument(f"{text!r} is not a task id (a UUID)") from error


# --- commands -------------------------------------------------------------------------------


def cmd_enqueue(args: argparse.Namespace) -> int:
    payload = parse_payload(args.payload)
    at = parse_time(args.at) if args.at else None
    unique_for = parse_duration(args.unique_for, "--unique-for")
    timeout = parse_duration(args.timeout, "--timeout")

    async def call(conn: client.Connection) -> client.Task:
        task_id = await client.enqueue(
            conn,
            args.name,
            payload,
            priority=args.priority,
            scheduled_at=at,
            queue=args.queue,
            max_attempts=args.max_attempts,
            unique_key=args.unique_key,
            unique_for=unique_for,
            concurrency_key=args.concurrency_key,
            timeout=timeout,
        )
        return await client.get_task(conn, task_id)

    task = run_call(args, call)
    emit(args, task, str(task.id))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    task_id = parse_task_id(args.task_id)
    task = run_call(args, lambda conn: client.get_task(conn, task_id))
    emit(args, task, describe(task))
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    if args.limit < 1 or args.limit > PAGE_MAX:
        raise InvalidArgument(f"--limit must be between 1 and {PAGE_MAX}")
    after = parse_task_id(args.after) if args.after else None
    include = parse_include(args.include)
    page = run_call(
        args,
        lambda conn: client.list_tasks(
            conn,
            status=args.status,
            queue=args.queue,
            name=args.name,
            after=after,
            page_size=args.limit,
            include=include,
        ),
    )
    text = table(page.items, (*TASK_COLUMNS, *include))
    if page.next_cursor is not None:
        text += f"\n(more: taskq ls --after {page.next_cursor})"
    emit(args, page, text)
    return 0


def actor_of(args: argparse.Namespace) -> str | None:
    """Who the audit trail names for an admin command: --actor, else TASKQ_ACTOR, else nobody
    (the database login is recorded either way)."""
    actor: str | None = args.actor or os.environ.get(ACTOR_ENV) or None
    return actor


def _transition(
    action: Callable[..., Awaitable[client.Task]],
) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        task_id = parse_task_id(args.task_id)

        async def call(conn: client.Connection) -> client.Task:
            async with client.acting_as(conn, actor_of(args)):
                return await action(conn, task_id, reason=args.reason)

        task = run_call(args, call)
        note = (
            " (cancellation asked; its worker stops it)"
            if task.cancel_requested and task.status == "RUNNING"
            else ""
        )
        emit(args, task, f"task {task.id} is {task.status}{note}")
        return 0

    return command


def cmd_queues(args: argparse.Namespace) -> int:
    stats = run_call(args, client.queue_stats)
    emit(args, stats, table(stats, QUEUE_COLUMNS) if stats else "no queues yet")
    return 0


WORKER_COLUMNS = ("name", "host", "pid", "queues", "running", "heartbeat", "state")


def age(length: timedelta) -> str:
    """How long, as people read it at a glance: 45s, 3m05s, 2h10m, 3d04h (never negative)."""
    whole = max(0, int(length.total_seconds()))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def worker_cells(worker: client.WorkerInfo, now: datetime) -> types.SimpleNamespace:
    """A worker as ``taskq workers`` and ``taskq top`` show it: its queues (all: every queue),
    its last heartbeat as an age, alive or dead (presumed: no heartbeat within its lease)."""
    return types.SimpleNamespace(
        name=worker.name,
        host=worker.host,
        pid=worker.pid,
        queues="all" if worker.queues is None else ",".join(worker.queues),
        running=worker.running,
        heartbeat=age(now - worker.heartbeat_at) + " ago",
        state="alive" if worker.alive else "dead",
    )


def cmd_workers(args: argparse.Namespace) -> int:
    workers = run_call(args, client.list_workers)
    now = datetime.now(UTC)
    rows = [worker_cells(worker, now) for worker in workers]
    emit(args, workers, table(rows, WORKER_COLUMNS) if workers else "no workers")
    return 0


def parse_rate(text: str) -> tuple[Decimal, timedelta]:
    """``20``, ``20/s``, ``100/min``, ``1000/h``, ``5000/day``: the rate and its period."""
    match = RATE_PATTERN.fullmatch(text.lower())
    period = RATE_PERIODS.get(match.group(2) or "s") if match else None
    if match is None or period is None:
        raise InvalidArgument(
            f"--rate must be a number of tasks, optionally per s, min, h or day (20/s): {text!r}"
        )
    return Decimal(match.group(1)), period


def cmd_queue(args: argparse.Namespace) -> int:
    rate = parse_rate(args.rate) if args.rate is not None else None
    if args.burst is not None and rate is None:
        raise InvalidArgument("--burst goes with --rate")

    async def call(conn: client.Connection) -> list[client.QueueStats]:
        reason = args.reason
        async with client.acting_as(conn, actor_of(args)):
            if args.unlimited:
                await client.set_concurrency(conn, args.queue, None, reason=reason)
            elif args.concurrency is not None:
                await client.set_concurrency(conn, args.queue, args.concurrency, reason=reason)
            if args.no_key_concurrency:
                await client.set_key_concurrency(conn, args.queue, None, reason=reason)
            elif args.key_concurrency is not None:
                await client.set_key_concurrency(
                    conn, args.queue, args.key_concurrency, reason=reason
                )
            if args.no_rate:
                await client.set_rate_limit(conn, args.queue, None, reason=reason)
            elif rate is not None:
                await client.set_rate_limit(
                    conn, args.queue, rate[0], per=rate[1], burst=args.burst, reason=reason
                )
            if args.pause:
                await client.pause_queue(conn, args.queue, reason=reason)
            if args.resume:
                await client.resume_queue(conn, args.queue, reason=reason)
        return [s for s in await client.queue_stats(conn) if s.queue == args.queue]

    changes = (args.unlimited, args.pause, args.resume, args.no_key_concurrency, args.no_rate)
    if (args.concurrency, args.key_concurrency, rate) == (None, None, None) and not any(changes):
        raise InvalidArgument(
            "say what to change: --concurrency N, --unlimited, --key-concurrency N, "
            "--no-key-concurrency, --rate N[/PERIOD], --no-rate, --pause or --resume"
        )
    stats = run_call(args, call)
    if not stats:
        raise NotFound(f"queue {args.queue!r} does not exist")
    emit(args, stats[0], table(stats, QUEUE_COLUMNS))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if args.limit < 1 or args.limit > PAGE_MAX:
        raise InvalidArgument(f"--limit must be between 1 and {PAGE_MAX}")
    if args.after is not None and not 1 <= args.after <= 2**63 - 1:
        raise InvalidArgument("--after must be a cursor printed by taskq audit (1 to 2^63-1)")
    task_id = parse_task_id(args.task_id) if args.task_id else None
    since = parse_past(args.since, "--since") if args.since else None
    before = parse_past(args.before, "--before") if args.before else None
    page = run_call(
        args,
        lambda conn: client.list_audit(
            conn,
            task_id=task_id,
            queue=args.queue,
            action=args.action,
            since=since,
            before=before,
            after=args.after,
            page_size=args.limit,
        ),
    )
    text = table(page.items, AUDIT_COLUMNS) if page.items else "no audit rows"
    if page.next_cursor is not None:
        text += f"\n(more: taskq audit --after {page.next_cursor})"
    emit(args, page, text)
    return 0


SCHEDULE_COLUMNS = (
    "name",
    "cron",
    "time_zone",
    "next_run_at",
    "task_name",
    "queue",
    "priority",
    "missed",
    "last_run_at",
)


def cmd_schedules(args: argparse.Namespace) -> int:
    schedules = run_call(args, client.list_schedules)
    text = table(schedules, SCHEDULE_COLUMNS) if schedules else "no schedules"
    emit(args, schedules, text)
    return 0


def _next_run(schedule: client.Schedule) -> str:
    if schedule.next_run_at is None:
        return "no tick left"
    return f"next run {_cell(schedule.next_run_at)} UTC"


def cmd_schedule(args: argparse.Namespace) -> int:
    payload = parse_payload(args.payload)

    async def call(conn: client.Connection) -> client.Schedule:
        async with client.acting_as(conn, actor_of(args)):
            return await client.schedule(
                conn,
                args.name,
                args.cron,
                payload=payload,
                queue=args.queue,
                priority=args.priority,
                time_zone=args.time_zone,
                max_attempts=args.max_attempts,
                task_name=args.task_name,
                missed=args.missed,
                reason=args.reason,
            )

    made = run_call(args, call)
    emit(args, made, f"schedule {made.name}: {made.cron} in {made.time_zone}, {_next_run(made)}")
    return 0


def cmd_unschedule(args: argparse.Namespace) -> int:
    async def call(conn: client.Connection) -> client.Schedule:
        async with client.acting_as(conn, actor_of(args)):
            return await client.unschedule(conn, args.name, reason=args.reason)

    removed = run_call(args, call)
    emit(args, removed, f"schedule {removed.name} removed")
    return 0


def add_audit_options(parser: argparse.ArgumentParser) -> None:
    """--reason and --actor: what the audit trail records with an admin command."""
    parser.add_argument("--reason", help="why, recorded in the audit trail (taskq audit)")
    parser.add_argument(
        "--actor",
        help=f"who acts, recorded in the audit trail (default: {ACTOR_ENV}; the database "
        "login is recorded too)",
    )


TABLE_HEALTH_COLUMNS = (
    "table_name",
    "total",
    "table",
    "indexes",
    "live_tuples",
    "dead_tuples",
    "dead",
    "n_mod_since_analyze",
    "last_autovacuum",
    "last_autoanalyze",
)
HOLDER_COLUMNS = (
    "holder",
    "pid",
    "name",
    "database",
    "role",
    "state",
    "xmin_age",
    "age",
    "holds_back_taskq",
    "is_horizon",
)


class Health(msgspec.Struct, kw_only=True):
    """What ``taskq health`` shows: taskq.table_health and taskq.cleanup_holders."""

    tables: list[client.TableHealth]
    cleanup_holders: list[client.CleanupHolder]


def size(count: int) -> str:
    """Bytes as people read them: 8.0 kB, 1.2 MB (powers of 1024, as pg_size_pretty)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("not reached")


def horizon_line(holders: Sequence[client.CleanupHolder]) -> str:
    """One line on what holds back the cleanup of the taskq tables, if anything does."""
    horizon = [h for h in holders if h.is_horizon]
    if not horizon:
        return "nothing holds back the cleanup of the taskq tables"
    h = horizon[0]
    who = (
        h.holder
        + (f" pid {h.pid}" if h.pid is not None else "")
        + (f" {h.name!r}" if h.name else "")
    )
    held = f"{h.xmin_age:,} xids" + (f", {_cell(h.age)}" if h.age is not None else "")
    return f"the cleanup of the taskq tables is held back by {who}: {held}"


def cmd_health(args: argparse.Namespace) -> int:
    async def call(conn: client.Connection) -> Health:
        return Health(
            tables=await client.table_health(conn),
            cleanup_holders=await client.cleanup_holders(conn),
        )

    health = run_call(args, call)
    rows = [
        types.SimpleNamespace(
            **msgspec.structs.asdict(t),
            total=size(t.total_bytes),
            table=size(t.table_bytes),
            indexes=size(t.index_bytes),
            dead=f"{t.dead_fraction:.1%}",
        )
        for t in health.tables
    ]
    text = table(rows, TABLE_HEALTH_COLUMNS)
    if health.cleanup_holders:
        text += "\n\n" + table(health.cleanup_holders, HOLDER_COLUMNS)
    text += "\n\n" + horizon_line(health.cleanup_holders)
    emit(args, health, text)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """taskq.prune, batch after batch, until a batch is not full (or --once)."""

    async def call(conn: client.Connection) -> client.Pruned:
        total = client.Pruned(completed=0, failed=0, cancelled=0)
        while True:
            async with client.acting_as(conn, actor_of(args)):
                done = await client.prune(conn, args.batch, reason=args.reason)
            total.completed += done.completed
            total.failed += done.failed
            total.cancelled += done.cancelled
            total.audit_rows += done.audit_rows
            if args.once or (done.total < args.batch and done.audit_rows < args.batch):
                return total

    pruned = run_call(args, call)
    emit(
        args,
        pruned,
        f"pruned {pruned.completed} completed, {pruned.failed} failed and "
        f"{pruned.cancelled} cancelled task(s) and {pruned.audit_rows} audit row(s) past their "
        "queue's retention",
    )
    return 0


def add_commands(commands: Any) -> None:
    """Add the admin subcommands to the ``taskq`` parser's subparsers."""
    p = commands.add_parser("enqueue", help="add a task", description="Add a task (taskq.enqueue).")
    p.add_argument("name", help="the task's name, which picks its handler")
    p.add_argument(
        "--payload",
        help="a JSON object for the handler (default {}); @FILE reads it from a file, "
        "- from standard input",
    )
    p.add_argument("--priority", choices=PRIORITIES, help="default MEDIUM")
    p.add_argument("--at", help="when it is due: ISO 8601 (no offset = UTC) or +30s, +5m, +2h, +1d")
    p.add_argument("--queue", help="default: default")
    p.add_argument("--max-attempts", type=int, help="default 3")
    p.add_argument(
        "--unique-key",
        help="while a task with this key is live, answer that task instead of adding one",
    )
    p.add_argument(
        "--unique-for", help="keep the key taken this long after the task finished: 30s, 5m, 2h"
    )
    p.add_argument(
        "--concurrency-key", help="tasks of one key run at most the queue's key limit at once"
    )
    p.add_argument("--timeout", help="cancel an attempt that runs longer: 30s, 5m, 2h")
    p.set_defaults(handler=cmd_enqueue)

    p = commands.add_parser(
        "status", help="show one task", description="Show one task (taskq.get_task)."
    )
    p.add_argument("task_id", help="the task's id")
    p.set_defaults(handler=cmd_status)

    p = commands.add_parser(
        "ls", help="list tasks, newest first", description="List tasks, newest first."
    )
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--queue")
    p.add_argument("--name")
    p.add_argument("--limit", type=int, default=20, help="tasks per page (default 20)")
    p.add_argument("--after", help="the id printed after the previous page")
    p.add_argument(
        "--include",
        metavar="payload,result",
        help="show the tasks' payload and/or result too (left out by default)",
    )
    p.set_defaults(handler=cmd_ls)

    for name, action, text in (
        ("pause", client.pause, "QUEUED -> PAUSED"),
        ("resume", client.resume, "PAUSED -> QUEUED, keeping its place"),
        ("cancel", client.cancel, "QUEUED/PAUSED -> CANCELLED; asks a RUNNING task to stop"),
        ("retry", client.retry, "FAILED/CANCELLED -> QUEUED, due now"),
    ):
        p = commands.add_parser(
            name, help=f"{name} a task ({text})", description=f"{text} (taskq.{name})."
        )
        p.add_argument("task_id", help="the task's id")
        add_audit_options(p)
        p.set_defaults(handler=_transition(action))

    p = commands.add_parser(
        "queues", help="list queues with their counts", description="taskq.queue_stats"
    )
    p.set_defaults(handler=cmd_queues)

    p = commands.add_parser(
        "workers",
        help="list the registered workers, alive or presumed dead",
        description="The registered workers (taskq.worker_info) by name: host, pid, queues, "
        "running tasks, the age of the last heartbeat, and alive or dead (presumed dead: no "
        "heartbeat within its lease; the maintenance turn removes it and rescues its tasks).",
    )
    p.set_defaults(handler=cmd_workers)

    p = commands.add_parser(
        "health",
        help="table sizes, dead tuples, vacuums, and what holds back cleanup",
        description="Each taskq table's sizes, dead tuples and last (auto)vacuum and analyze "
        "(taskq.table_health), and what holds back VACUUM in the cluster (taskq.cleanup_holders): "
        "the oldest open transactions and snapshots, prepared transactions, replication slots, "
        "standbys' feedback.",
    )
    p.set_defaults(handler=cmd_health)

    p = commands.add_parser(
        "queue",
        help="change a queue",
        description="Change a queue's concurrency, its per-key concurrency or rate limit, or "
        "pause/resume it.",
    )
    p.add_argument("queue", help="the queue's name (created if new)")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--concurrency", type=int, help="slots: tasks of this queue running at once")
    limit.add_argument("--unlimited", action="store_true", help="no limit on running tasks")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument(
        "--key-concurrency",
        type=int,
        metavar="N",
        help="tasks with one concurrency key running at once (1 to 10000)",
    )
    keys.add_argument("--no-key-concurrency", action="store_true", help="no per-key limit")
    rates = p.add_mutually_exclusive_group()
    rates.add_argument(
        "--rate",
        metavar="N[/PERIOD]",
        help="claims from the queue at most N per second, or per PERIOD: s, min, h, day (100/min)",
    )
    rates.add_argument("--no-rate", action="store_true", help="no rate limit")
    p.add_argument(
        "--burst",
        type=int,
        metavar="N",
        help="with --rate: the largest burst (default: N rounded up)",
    )
    state = p.add_mutually_exclusive_group()
    state.add_argument("--pause", action="store_true", help="stop claims from the queue")
    state.add_argument("--resume", action="store_true", help="let claims take from the queue again")
    add_audit_options(p)
    p.set_defaults(handler=cmd_queue)

    p = commands.add_parser(
        "audit",
        help="list the audit trail of admin acts, newest first",
        description="The audit trail (taskq.list_audit): one row per admin act, newest first.",
    )
    p.add_argument("--task-id", help="only acts on this task")
    p.add_argument("--queue", help="only acts on this queue or its tasks")
    p.add_argument(
        "--action", help="only this act: pause, resume, cancel, retry, set_concurrency, ..."
    )
    p.add_argument(
        "--since",
        help="only acts at or after this time: ISO 8601 (no offset = UTC), or how long ago: "
        "30m, 2h, 1d",
    )
    p.add_argument("--before", help="only acts before this time: ISO 8601, or 30m, 2h, 1d (ago)")
    p.add_argument("--limit", type=int, default=20, help="rows per page (default 20)")
    p.add_argument("--after", type=int, help="the cursor printed after the previous page")
    p.set_defaults(handler=cmd_audit)

    p = commands.add_parser(
        "schedules",
        help="list the periodic tasks with their next run",
        description="The schedules (taskq.schedule_info) by name, each with its next run in UTC.",
    )
    p.set_defaults(handler=cmd_schedules)

    p = commands.add_parser(
        "schedule",
        help="create or replace a periodic task",
        description="Create or replace the schedule NAME (taskq.schedule): a task enqueued at "
        "each tick of CRON in its time zone. Replacing it keeps its next run when the cron and "
        "the zone are unchanged; an option left out takes its default.",
    )
    p.add_argument("name", help="the schedule's name")
    p.add_argument(
        "cron",
        help="5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or "
        "@hourly, @daily, @weekly, @monthly, @yearly; quote it",
    )
    p.add_argument(
        "--payload",
        help="a JSON object for the task (default {}); @FILE reads it from a file, - from "
        "standard input",
    )
    p.add_argument("--queue", default="default", help="default: default")
    p.add_argument("--priority", choices=PRIORITIES, default="MEDIUM", help="default MEDIUM")
    p.add_argument(
        "--time-zone", default="UTC", help="the IANA zone of the cron (Europe/Paris); default UTC"
    )
    p.add_argument("--max-attempts", type=int, default=3, help="default 3")
    p.add_argument("--task-name", help="the task each tick enqueues (default: the name)")
    p.add_argument(
        "--missed",
        choices=("once", "skip"),
        default="once",
        help="ticks missed while nothing ran: one task for them (once, the default) or none",
    )
    add_audit_options(p)
    p.set_defaults(handler=cmd_schedule)

    p = commands.add_parser(
        "unschedule",
        help="remove a periodic task",
        description="Remove the schedule NAME (taskq.unschedule); the tasks it enqueued stay.",
    )
    p.add_argument("name", help="the schedule's name")
    add_audit_options(p)
    p.set_defaults(handler=cmd_unschedule)

    p = commands.add_parser(
        "prune",
        help="remove finished tasks past their queue's retention",
        description="Remove COMPLETED, FAILED and CANCELLED tasks past their queue's retention "
        "(taskq.prune), batch after batch until none is left; live tasks are never removed.",
    )
    p.add_argument(
        "--batch", type=int, default=10000, help="tasks removed per transaction (default 10000)"
    )
    p.add_argument("--once", action="store_true", help="one batch only")
    add_audit_options(p)
    p.set_defaults(handler=cmd_prune)

    for sub in (
        "enqueue",
        "status",
        "ls",
        "pause",
        "resume",
        "cancel",
        "retry",
        "queues",
        "queue",
        "workers",
        "audit",
        "health",
        "schedules",
        "schedule",
        "unschedule",
        "prune",
    ):
        parser = commands.choices[sub]
        add_database_option(parser)
        add_json_option(parser)
