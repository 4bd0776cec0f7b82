"""The worker: register, claim, run, report, heartbeat, stop.

One asyncio process. Every queue decision is a SQL function: the loop only calls
``claim_next`` (for the task names it has handlers for, with a batch as large as its free
capacity), then ``complete`` or ``fail`` with the lease token (``complete_many`` / ``fail_many``
for outcomes that arrive together), ``heartbeat`` every third of the lease, and
``unregister_worker`` on the way out. A claimed task whose row holds a value Python cannot
represent (:attr:`taskq.client.Task.undecodable`) is failed with the reason, unrun. Background
jobs share the work:

- the claim loop claims while there is capacity, then sleeps until a NOTIFY on channel
  ``taskq`` names one of its queues, a handler finishes, the next scheduled task falls due
  (``next_due``), or the slow poll comes round (NOTIFY is a hint; the poll finds what a lost
  notification hid);
- the listener holds one dedicated LISTEN connection, reconnected with backoff when it drops;
  on ``listen_url`` when given (a direct connection beside a pooled database URL), else on the
  database URL, unless a connection pooler is detected there: LISTEN cannot work through
  transaction pooling, so the worker then only polls (``poll_only``);
- the heartbeat extends the leases and learns which running tasks were cancelled (at once
  when a NOTIFY on ``taskq_cancel`` carries this worker's id);
- the reporter sends the outcomes of finished handlers, in batches under load.

When the database goes away every call fails with :class:`~taskq.errors.Unavailable`; the
worker logs it, retries with backoff and goes on. Results of handlers that finished meanwhile
are reported once it is back; tasks whose lease ran out were rescued by the SQL side, and
their late report is refused (55000) and dropped.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import socket
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from taskq import client
from taskq.client import Connection, Task
from taskq.errors import InvalidArgument, NotFound, TaskqError, Unavailable
from taskq.pool import behind_pooler, connect, make_pool
from taskq.settings import Prepare
from worker.builtins import BUILTINS
from worker.context import CancelReason, TaskContext
from worker.registry import Handler, Registry
from worker.registry import registry as default_registry
from worker.threads import run_in_daemon_thread

log = logging.getLogger("taskq.worker")

POOL_APPLICATION = "taskq-worker"
LISTEN_APPLICATION = "taskq-worker-listen"
# at most this many outcomes in one complete_many / fail_many call
REPORT_BATCH = 500
# wake this long after a scheduled task falls due, so that the claim sees it due
DUE_MARGIN = 0.001

T = TypeVar("T")


class Backoff:
    """Exponential delays with jitter: ``first``, doubling up to ``most`` seconds."""

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self.first = first
        self.most = most
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.most)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.first


@dataclass(frozen=True)
class Succeeded:
    result: Any


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class Cancelled:
    reason: CancelReason


Outcome = Succeeded | Failed | Cancelled


@dataclass(eq=False)
class _Report:
    """An outcome waiting to be reported, and the future its runner awaits (None: not
    reported, because the task is no longer this worker's or the worker gave up)."""

    entry: _Running
    outcome: Outcome
    reported: asyncio.Future[Task | None]
    substituted: bool = False

    @property
    def token(self) -> UUID:
        token = self.entry.task.lease_token
        assert token is not None, "a claimed task has a lease token"
        return token

    @property
    def error(self) -> str:
        if isinstance(self.outcome, Failed):
            return self.outcome.error
        return f"cancelled while running (attempt {self.entry.task.attempts})"

    def settle(self, row: Task | None) -> None:
        if not self.reported.done():
            self.reported.set_result(row)

    def substitute(self, refusal: TaskqError) -> None:
        """Report a failure, saying why, instead of an outcome the database refused to store."""
        what = "result" if isinstance(self.outcome, Succeeded) else "error"
        error = f"the {what} of this attempt could not be stored: {refusal}"
        if isinstance(self.outcome, Failed):
            began = first_line(self.outcome.error)[:500].replace("\x00", "\\x00")
            error = f"{error}; it began: {began}"
        self.outcome = Failed(error)
        self.substituted = True


@dataclass(eq=False)
class _Running:
    """A task this worker holds, from its claim until its outcome is reported."""

    task: Task
    context: TaskContext
    started: float
    ended: float | None = None
    runner: asyncio.Task[None] | None = None

    @functools.cached_property
    def label(self) -> str:
        task = self.task
        return f"task {task.id} {task.name!r} attempt {task.attempts}/{task.max_attempts}"

    def elapsed(self) -> float:
        """Seconds the handler ran (so far, while it runs)."""
        return (self.ended or monotonic()) - self.started


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True when it is set.

    Not ``asyncio.wait_for``: on Python 3.11 a cancellation that arrives just as its timeout
    fires comes out as TimeoutError, and a loop that treats a timeout as normal would never end.
    """
    if event.is_set():
        await asyncio.sleep(0)  # still a point where other tasks run
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(seconds, 0))
    finally:
        waiter.cancel()
    return event.is_set()


def describe_error(error: BaseException) -> str:
    """``Type: message`` on the first line (it shows in lists), then the traceback."""
    details = "".join(traceback.format_exception(error)).rstrip()
    return f"{type(error).__name__}: {error}\n\n{details}"


def undecodable_error(task: Task) -> str:
    """The error of a task whose row holds values Python cannot represent: it cannot run."""
    return "; ".join(
        f"{column} cannot be decoded: {reason}" for column, reason in task.undecodable.items()
    )


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


class Worker:
    """A taskq worker. ``await Worker(url).run()`` runs until :meth:`stop`; ``taskq worker``
    does the same in a process of its own, with SIGTERM/SIGINT calling :meth:`stop`.

    It claims only the task names it has handlers for (its registry's and the built-ins),
    and registers them (``register_worker``'s ``task_names``): a task of another name waits
    QUEUED, its attempts untouched, for a worker that handles it, and shows in
    ``taskq.unhandled_tasks`` while none runs. ``any_name=True`` claims every name instead; a
    task without a handler then fails with ``no handler registered for '<name>'``.
    """

    def __init__(
        self,
        database_url: str,
        *,
        queues: Sequence[str] = ("default",),
        concurrency: int = 4,
        registry: Registry | None = None,
        any_name: bool = False,
        grace: float = 30.0,
        lease: float = 30.0,
        poll: float = 5.0,
        name: str | None = None,
        connect_timeout: float = 5.0,
        listen_url: str | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        if not queues or any(not q for q in queues):
            raise ValueError("a worker needs at least one non-empty queue name")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if grace < 0:
            raise ValueError(f"grace must not be negative, not {grace}")
        if lease <= 0 or poll <= 0:
            raise ValueError("lease and poll must be positive numbers of seconds")
        self.database_url = database_url
        self.queues = list(dict.fromkeys(queues))
        self.concurrency = concurrency
        self.registry = default_registry if registry is None else registry
        self.any_name = any_name
        self.grace = grace
        self.lease = lease
        self.poll = poll
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.connect_timeout = connect_timeout
        self.listen_url = listen_url
        self.prepare = prepare
        self.worker_id: UUID | None = None
        #: True once the worker found a connection pooler on its database URL and no
        #: ``listen_url``: it does not LISTEN and finds new tasks by polling every ``poll``
        self.poll_only = False
        #: set once the worker is listening and registered, cleared when it has left
        self.ready = asyncio.Event()
        #: set once the worker claims nothing more after :meth:`stop` (a claim already sent
        #: when stop was called has returned, and its tasks run within the grace period)
        self.claims_stopped = asyncio.Event()
        self._stopping = asyncio.Event()
        self._force = asyncio.Event()
        self._abandon = asyncio.Event()
        self._wake = asyncio.Event()
        self._heartbeat_now = asyncio.Event()
        # set once LISTEN is established, or known to be impossible (poll_only)
        self._listening = asyncio.Event()
        self._register_lock = asyncio.Lock()
        self._running: dict[UUID, _Running] = {}
        self._unreported: list[_Report] = []
        self._reports_waiting = asyncio.Event()
        # set on any connection trouble: a claim may have committed without its answer arriving
        self._answers_lost = False
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None

    # --- public --------------------------------------------------------------------------
    def stop(self, *, force: bool = False) -> None:
        """Stop claiming at once; running handlers get ``grace`` seconds (none with ``force``),
        then what is left is cancelled and handed back. Call it on the worker's event loop."""
        if not self._stopping.is_set():
            log.info("stopping: no new claims; %d task(s) running", len(self._running))
        self._stopping.set()
        if force:
            self._force.set()
        self._wake.set()

    @property
    def running(self) -> int:
        """How many tasks this worker holds right now."""
        return len(self._running)

    def handler(self, name: str) -> Handler | None:
        """The handler for a task name: the registry's, else a built-in."""
        found = self.registry.get(name)
        if found is None and name in BUILTINS:
            found = Handler(name, BUILTINS[name], is_async=True)
        return found

    def handler_names(self) -> list[str]:
        return sorted(set(self.registry.names()) | set(BUILTINS))

    def claimed_names(self) -> list[str] | None:
        """The task names this worker claims: its handlers', or None (any) with ``any_name``."""
        return None if self.any_name else self.handler_names()

    async def run(self) -> None:
        """Run until :meth:`stop`; return once the worker has unregistered."""
        self._pool = make_pool(
            self.database_url,
            min_size=1,
            max_size=self.concurrency + 3,
            name=POOL_APPLICATION,
            prepare=self.prepare,
        )
        await self._pool.open(wait=False)
        background: list[asyncio.Task[None]] = []
        try:
            # LISTEN before registering: once the worker's row exists, no notification is missed.
            background.append(asyncio.create_task(self._listen_loop(), name="taskq-listen"))
            if not await wait_event(self._listening, self.connect_timeout):
                log.warning("LISTEN is not established yet; relying on polling meanwhile")
            if not await self._register():
                return
            background.append(asyncio.create_task(self._heartbeat_loop(), name="taskq-heartbeat"))
            background.append(asyncio.create_task(self._report_loop(), name="taskq-report"))
            self.ready.set()
            log.info(
                "worker %s (%s) ready: queues %s, concurrency %d, %s, lease %gs, %s; handlers: %s",
                self.worker_id,
                self.name,
                ", ".join(self.queues),
                self.concurrency,
                "any task name" if self.any_name else "only the names of its handlers",
                self.lease,
                f"polls every {self.poll:g}s (no LISTEN through the connection pooler)"
                if self.poll_only
                else f"wakes on NOTIFY, slow poll {self.poll:g}s",
                ", ".join(self.handler_names()),
            )
            await self._claim_loop()
            self.claims_stopped.set()
            await self._drain()
            await self._unregister()
        finally:
            self.ready.clear()
            leftovers = [e.runner for e in self._running.values() if e.runner is not None]
            for job in [*background, *leftovers]:
                job.cancel()
            if background or leftovers:
                await asyncio.wait([*background, *leftovers], timeout=self.connect_timeout)
            await self._pool.close(timeout=self.connect_timeout)
            log.info("worker %s stopped", self.worker_id)

    # --- database access -------------------------------------------------------------------
    async def _db(self, call: Callable[[Connection], Awaitable[T]]) -> T:
        """One SQL function call on a pooled connection; an unreachable database (including a
        pool that cannot hand out a connection in time) is :class:`Unavailable`."""
        assert self._pool is not None
        try:
            async with self._pool.connection(timeout=self.connect_timeout) as conn:
                return await call(conn)
        except Unavailable:
            self._answers_lost = True
            raise
        except TaskqError:
            raise
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as error:
            self._answers_lost = True
            raise Unavailable(str(error).strip() or type(error).__name__) from error

    async def _register(self) -> bool:
        """Register (again, after the row vanished), retrying while the database is away.
        False when the worker was stopped first."""
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                worker_id = await self._db(
                    lambda conn: client.register_worker(
                        conn,
                        self.name,
                        queues=self.queues,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        task_names=self.claimed_names(),
                    )
                )
            except Unavailable as error:
                delay = backoff.next()
                log.warning("cannot register (%s); retrying in %.1fs", error, delay)
                await self._sleep(delay, self._stopping)
                continue
            self.worker_id = worker_id
            return True
        return False

    async def _reregister(self, gone: UUID) -> None:
        async with self._register_lock:
            if self.worker_id != gone or self._stopping.is_set():
                return
            log.warning("worker %s is no longer registered; registering again", gone)
            if await self._register():
                log.info("registered again as worker %s", self.worker_id)

    # --- claiming ----------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        backoff = Backoff()
        names = self.claimed_names()
        while not self._stopping.is_set():
            # Cleared before looking: a handler that ends or a notification that arrives from
            # here on wakes the loop again.
            self._wake.clear()
            free = self.concurrency - len(self._running)
            timeout = self.poll
            if free > 0:
                worker_id = self.worker_id
                assert worker_id is not None
                try:
                    if self._answers_lost:
                        self._answers_lost = False
                        if await self._adopt_lost_claims(worker_id):
                            continue
                    tasks = await self._db(
                        functools.partial(
                            client.claim_next,
                            worker_id=worker_id,
                            queues=self.queues,
                            names=names,
                            lease=timedelta(seconds=self.lease),
                            batch_size=free,
                        )
                    )
                except NotFound:
                    await self._reregister(worker_id)
                    continue
                except TaskqError as error:
                    delay = backoff.next()
                    log.warning("cannot claim (%s); trying again in %.1fs", error, delay)
                    await self._sleep(delay, self._stopping)
                    continue
                backoff.reset()
                for task in tasks:
                    self._start(task)
                if len(tasks) == free:
                    continue  # a full batch: there may be more, as soon as capacity frees
                if tasks:
                    # Let the new tasks reach their handlers before this loop's next query.
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                # The tasks run already; now, when does the next scheduled one fall due?
                try:
                    wait = await self._db(lambda conn: client.seconds_until_due(conn, self.queues))
                except TaskqError as error:
                    log.warning("cannot read the schedule (%s)", error)
                    wait, timeout = None, backoff.next()
                if wait is not None:
                    # Due already (it fell due after the claim looked): look again at once.
                    timeout = min(timeout, max(wait, 0.0) + DUE_MARGIN)
            await self._sleep(timeout, self._wake)

    async def _adopt_lost_claims(self, worker_id: UUID) -> int:
        """Run the tasks claimed for this worker whose claim's answer never arrived.

        A claim can commit and its connection die before the rows reach the worker. Such a task
        is RUNNING under this worker's id; the heartbeat, which extends only the tasks the worker
        holds, lets its lease run out, and it would wait that long to be rescued. After any
        connection trouble the worker looks for RUNNING tasks of its own that it does not know of
        and runs them: the claim was theirs.
        """
        adopted = 0
        for queue in self.queues:
            after: UUID | None = None
            for _ in range(100):  # bounded: a worker holds at most a few pages of tasks
                page = await self._db(
                    functools.partial(
                        client.list_tasks, status="RUNNING", queue=queue, after=after, page_size=500
                    )
                )
                for task in page.items:
                    if (
                        task.worker_id == worker_id
                        and task.id not in self._running
                        and task.lease_token is not None
                    ):
                        log.warning(
                            "task %s %r: its claim's answer was lost with the connection; "
                            "running it now",
                            task.id,
                            task.name,
                        )
                        self._start(task)
                        adopted += 1
                after = page.next_cursor
                if after is None:
                    break
        return adopted

    @staticmethod
    async def _sleep(seconds: float, event: asyncio.Event) -> None:
        """Sleep up to ``seconds``, less when ``event`` is set."""
        await wait_event(event, seconds)

    # --- running ---------------------------------------------------------------------------
    def _start(self, task: Task) -> None:
        assert self.worker_id is not None
        context = TaskContext(
            task_id=task.id,
            name=task.name,
            queue=task.queue,
            attempt=task.attempts,
            max_attempts=task.max_attempts,
            payload=task.payload,
            worker_id=self.worker_id,
        )
        entry = _Running(task, context, monotonic())
        self._running[task.id] = entry
        entry.runner = asyncio.create_task(self._run_task(entry), name=f"taskq-task-{task.id}")

    async def _run_task(self, entry: _Running) -> None:
        log.info("%s started (queue %s)", entry.label, entry.task.queue)
        try:
            outcome = await self._invoke(entry)
            entry.ended = monotonic()
            await self._report(entry, outcome)
        except Exception:
            log.exception("%s: the worker failed to run or report it", entry.label)
        finally:
            if self._running.get(entry.task.id) is entry:
                del self._running[entry.task.id]
            self._wake.set()

    async def _invoke(self, entry: _Running) -> Outcome:
        task, context = entry.task, entry.context
        if task.undecodable:
            return Failed(undecodable_error(task))
        handler = self.handler(task.name)
        if handler is None:
            return Failed(f"no handler registered for '{task.name}'")
        running: asyncio.Future[Any]
        if handler.is_async:
            running = asyncio.ensure_future(handler.function(task.payload, context))
        else:
            running = run_in_daemon_thread(
                handler.function, task.payload, context, name=f"taskq-task-{task.id}"
            )
        asked = context.cancellation()
        try:
            await asyncio.wait({running, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
        reason = context.cancel_reason
        finished = running.done() and not running.cancelled()
        # Once the task's cancellation was asked, whatever the handler still returns is ignored.
        if finished and reason != "cancelled":
            error = running.exception()
            if error is None:
                return self._result(task, running.result())
            if reason is None:
                return Failed(describe_error(error))
            # it raised while the worker was stopping (perhaps because it was): hand it back
        elif reason is None:
            return Failed("CancelledError: the handler cancelled itself")
        elif not running.done():
            running.cancel()  # an async handler stops at its next await; a thread cannot
            if handler.is_async:
                # let it run its cleanup (finally blocks), but do not wait on one that hangs
                await asyncio.wait({running}, timeout=1.0)
        return Cancelled(reason)

    @staticmethod
    def _result(task: Task, value: Any) -> Outcome:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            return Failed(
                f"{type(error).__name__}: the result of '{task.name}' is not a JSON value: {error}"
            )
        return Succeeded(value)

    async def _report(self, entry: _Running, outcome: Outcome) -> None:
        """Hand the outcome to the reporter and wait until the database has it."""
        if isinstance(outcome, Cancelled) and outcome.reason == "shutdown":
            # unregister_worker hands it back: QUEUED again, this attempt not counted
            log.warning(
                "%s interrupted by shutdown after %.3fs; handing it back",
                entry.label,
                entry.elapsed(),
            )
            return
        reported: asyncio.Future[Task | None] = asyncio.get_running_loop().create_future()
        report = _Report(entry, outcome, reported)
        self._unreported.append(report)
        self._reports_waiting.set()
        row = await reported
        if row is not None:
            self._log_outcome(entry, report.outcome, row)

    async def _report_loop(self) -> None:
        """Report outcomes in batches: every outcome that arrived while the previous call ran
        goes in the next ``complete_many`` / ``fail_many`` call (one alone: ``complete`` /
        ``fail``). A single task is reported as soon as it ends; under load, one round trip and
        one commit serve many."""
        while True:
            await self._reports_waiting.wait()
            self._reports_waiting.clear()
            waiting, self._unreported = self._unreported, []
            completions = [r for r in waiting if isinstance(r.outcome, Succeeded)]
            failures = [r for r in waiting if not isinstance(r.outcome, Succeeded)]
            for group in (completions, failures):
                for start in range(0, len(group), REPORT_BATCH):
                    batch = group[start : start + REPORT_BATCH]
                    try:
                        await self._settle(batch)
                    except Exception:
                        log.exception("reporting %d outcome(s) failed", len(batch))
                        for report in batch:
                            report.settle(None)

    async def _settle(self, group: list[_Report]) -> None:
        """One call for the group, retried while the database is away; when one task of a batch
        is no longer this worker's (the batch call changes nothing then), one call per task."""
        backoff = Backoff()
        while True:
            try:
                rows = await self._db(functools.partial(self._outcome_call, group))
            except Unavailable as problem:
                if self._abandon.is_set():
                    for report in group:
                        log.error(
                            "%s: outcome not reported, the database is away (%s)",
                            report.entry.label,
                            problem,
                        )
                        report.settle(None)
                    return
                delay = backoff.next()
                log.warning(
                    "cannot report the outcome of %d task(s) (%s); retrying in %.1fs",
                    len(group),
                    problem,
                    delay,
                )
                await self._sleep(delay, self._abandon)
                continue
            except TaskqError as problem:
                if len(group) > 1:
                    for report in group:
                        await self._settle([report])
                    return
                entry = group[0].entry
                if isinstance(problem, InvalidArgument) and not group[0].substituted:
                    # The outcome itself cannot be stored (a NUL character in its text, say):
                    # left unreported, the task would stay RUNNING, its lease renewed by every
                    # heartbeat. Fail the attempt with why instead.
                    log.warning("%s: its outcome cannot be stored (%s)", entry.label, problem)
                    group[0].substitute(problem)
                    await self._settle(group)
                    return
                log.warning(
                    "%s ended after %.3fs, but its outcome was refused: %s",
                    entry.label,
                    entry.elapsed(),
                    problem,
                )
                group[0].settle(None)
                return
            for report, row in zip(group, rows, strict=True):
                report.settle(row)
            return

    @staticmethod
    async def _outcome_call(group: list[_Report], conn: Connection) -> list[Task]:
        """complete / fail for one task, complete_many / fail_many for more (one kind a group)."""
        completions = [
            client.Completion(r.entry.task.id, r.token, r.outcome.result)
            for r in group
            if isinstance(r.outcome, Succeeded)
        ]
        if len(completions) == 1:
            one = completions[0]
            return [await client.complete(conn, one.task_id, one.lease_token, one.result)]
        if completions:
            return await client.complete_many(conn, completions)
        failures = [client.Failure(r.entry.task.id, r.token, r.error) for r in group]
        if len(failures) == 1:
            failure = failures[0]
            return [await client.fail(conn, failure.task_id, failure.lease_token, failure.error)]
        return await client.fail_many(conn, failures)

    @staticmethod
    def _log_outcome(entry: _Running, outcome: Outcome, row: Task) -> None:
        elapsed = entry.elapsed()
        if isinstance(outcome, Succeeded):
            log.info("%s completed in %.3fs", entry.label, elapsed)
        elif isinstance(outcome, Cancelled):
            log.info("%s cancelled after %.3fs; now %s", entry.label, elapsed, row.status)
        elif row.status == "QUEUED":
            log.warning(
                "%s failed in %.3fs: %s; retry at %s",
                entry.label,
                elapsed,
                first_line(outcome.error),
                row.scheduled_at.isoformat(),
            )
        else:
            log.error(
                "%s failed in %.3fs: %s; now %s",
                entry.label,
                elapsed,
                first_line(outcome.error),
                row.status,
            )

    # --- heartbeats and notifications ----------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        every = self.lease / 3
        wait = every
        while True:
            await self._sleep(wait, self._heartbeat_now)
            self._heartbeat_now.clear()
            worker_id = self.worker_id
            assert worker_id is not None
            try:
                # Only the tasks it holds: one it dropped (its outcome refused, say) is rescued
                # when its lease runs out, instead of staying RUNNING for ever.
                cancelled = await self._db(
                    functools.partial(
                        client.heartbeat,
                        worker_id=worker_id,
                        lease=timedelta(seconds=self.lease),
                        task_ids=list(self._running),
                    )
                )
            except NotFound:
                await self._reregister(worker_id)
                wait = min(every, 1.0)
                continue
            except TaskqError as error:
                log.warning("heartbeat failed (%s); retrying", error)
                wait = min(every, 1.0)
                continue
            wait = every
            for task_id in cancelled:
                entry = self._running.get(task_id)
                if entry is not None and not entry.context.cancelled:
                    log.info("%s: cancellation asked; stopping its handler", entry.label)
                    entry.context.request_cancel("cancelled")

    async def _listen_loop(self) -> None:
        backoff = Backoff(first=0.2)
        lost = False
        while True:
            try:
                conn = await connect(
                    self.listen_url or self.database_url,
                    prepare=self.prepare,
                    application_name=LISTEN_APPLICATION,
                    connect_timeout=max(1, round(self.connect_timeout)),
                    # a silently dead peer is noticed within about a minute
                    keepalives=1,
                    keepalives_idle=30,
                    keepalives_interval=10,
                    keepalives_count=3,
                )
            except psycopg.Error as error:
                delay = backoff.next()
                log.warning(
                    "cannot open the LISTEN connection (%s); retrying in %.1fs", error, delay
                )
                await asyncio.sleep(delay)
                continue
            try:
                async with conn:
                    if await self._pooler_in_the_way(conn):
                        return
                    await client.listen(conn, client.NOTIFY_CHANNEL)
                    await client.listen(conn, client.CANCEL_CHANNEL)
                    self._listening.set()
                    if lost:
                        log.info("LISTEN connection re-established")
                        # notifications sent while it was down are lost: look for work now
                        self._wake.set()
                        self._heartbeat_now.set()
                    backoff.reset()
                    async for notification in conn.notifies():
                        self._on_notify(notification.channel, notification.payload)
            except (psycopg.Error, TaskqError) as error:
                lost = True
                self._answers_lost = True
                delay = backoff.next()
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", error, delay)
                self._wake.set()
                await asyncio.sleep(delay)

    async def _pooler_in_the_way(self, conn: Connection) -> bool:
        """Whether LISTEN is impossible on ``conn``'s database URL; if so the worker polls.

        A pooler in transaction pooling hands the session that ran LISTEN to other clients
        between transactions: the notifications never reach this worker (PgBouncer drops
        them, or gives them to whichever client holds that session). A ``listen_url`` is
        trusted (a direct connection, or a pooler in session pooling, where LISTEN works)."""
        if not await behind_pooler(conn):
            return False
        if self.listen_url is not None:
            log.warning(
                "the LISTEN URL goes through a connection pooler too; notifications arrive "
                "only if it pools by session (else the worker finds tasks by its %gs poll)",
                self.poll,
            )
            return False
        self.poll_only = True
        self._listening.set()
        log.warning(
            "the database URL goes through a connection pooler, where LISTEN cannot work: "
            "polling every %gs; set TASKQ_LISTEN_URL to a direct connection to wake on NOTIFY",
            self.poll,
        )
        return True

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == client.NOTIFY_CHANNEL:
            if payload in self.queues:
                self._wake.set()
        elif channel == client.CANCEL_CHANNEL and payload == str(self.worker_id):
            self._heartbeat_now.set()

    # --- stopping ------------------------------------------------------------------------------
    async def _drain(self) -> None:
        """Let running handlers finish within the grace period, then cancel what is left."""
        if self._running:
            log.info(
                "waiting up to %gs for %d running task(s) to finish", self.grace, len(self._running)
            )
        deadline = monotonic() + self.grace
        while True:
            self._wake.clear()  # runners set it as they finish
            remaining = deadline - monotonic()
            if not self._running or remaining <= 0 or self._force.is_set():
                break
            await self._sleep(remaining, self._wake)
        if not self._running:
            return
        log.warning("cancelling %d task(s) still running; they are handed back", len(self._running))
        for entry in list(self._running.values()):
            entry.context.request_cancel("shutdown")
        self._abandon.set()
        runners = [e.runner for e in self._running.values() if e.runner is not None]
        await asyncio.wait(runners, timeout=self.connect_timeout + 2.0)

    async def _unregister(self) -> None:
        worker_id = self.worker_id
        assert worker_id is not None
        backoff = Backoff()
        deadline = monotonic() + 2 * self.connect_timeout
        while True:
            try:
                handed_back = await self._db(lambda conn: client.unregister_worker(conn, worker_id))
            except NotFound:
                log.warning("worker %s was already unregistered", worker_id)
                return
            except TaskqError as error:
                if monotonic() >= deadline:
                    log.error(
                        "cannot unregister worker %s (%s); its tasks will be rescued when "
                        "their leases run out",
                        worker_id,
                        error,
                    )
                    return
                await asyncio.sleep(backoff.next())
                continue
            log.info("unregistered worker %s; %d task(s) handed back", worker_id, handed_back)
            return
