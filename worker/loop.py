"""The worker: a small :class:`Worker` that composes parts with one job each.

- :class:`~worker.registration.Registration` registers the worker (again, when its row
  vanished) and unregisters it on the way out, handing back what it still holds;
- :class:`~worker.claimer.Claimer` claims while there is room (``taskq.claim``) and hands
  each claimed task to :meth:`Worker._start`;
- :class:`~worker.executor.Executor` runs the task's handler, in the one asyncio task the worker
  gives each claimed task, and returns its outcome;
- :class:`~worker.reporter.Reporter` sends the outcomes, all that arrived together in one
  ``complete_many`` / ``fail_many`` call of each kind;
- :class:`~worker.heartbeat.Heartbeat` extends the leases and learns which running tasks were
  cancelled;
- :class:`~worker.listener.Listener` holds the LISTEN connection that wakes the claimer and the
  heartbeat;
- :class:`~worker.progress.ProgressWriter` writes what handlers report with
  ``ctx.report_progress``, the latest value of each task at most once a second;
- :class:`~worker.maintenance.Maintenance` takes the worker's turn at ``taskq.maintain`` (dead
  workers, retention) about every ``maintenance_interval`` seconds;
- :class:`~worker.scheduler.Scheduler` declares the handlers' schedules and enqueues the due
  ticks (``taskq.run_schedules``), sleeping at most ``schedules_interval`` seconds between calls.

A handler's place is free for the next claim as soon as the handler ends, not when its outcome
is committed, so the next claim (on one connection) overlaps the report (on another); the
worker claims while at most ``concurrency`` outcomes wait to be reported.

Each part gets the database-call function (:class:`~worker.database.Database`) and the events
it needs. Every queue decision is a SQL function; the worker reports outcomes, it decides
nothing. When the database goes away every call fails with :class:`~taskq.errors.Unavailable`;
the parts log it, retry and go on. Results of handlers that finished meanwhile are reported once
it is back; tasks whose lease ran out were rescued by the SQL side, and their late report is
refused (55000) and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Callable, Sequence
from time import monotonic
from uuid import UUID

from taskq.client import Claimed
from taskq.settings import Prepare
from worker.claimer import Claimer
from worker.context import TaskContext
from worker.database import Database
from worker.executor import STUCK_AFTER, Executor
from worker.heartbeat import Heartbeat
from worker.listener import Listener
from worker.maintenance import Maintenance
from worker.metrics import WorkerMetrics
from worker.outcomes import Failed, Outcome, Running, describe_error, stopped
from worker.progress import ProgressWriter
from worker.registration import Registration
from worker.registry import BUILTINS, Handler, Registry
from worker.registry import registry as default_registry
from worker.reporter import Reporter
from worker.scheduler import Scheduler
from worker.tracing import handler_spans
from worker.waiting import wait_event

log = logging.getLogger("taskq.worker")


class Worker:
    """A taskq worker. ``await Worker(url).run()`` runs until :meth:`stop`; ``taskq worker``
    does the same in a process of its own, with SIGTERM/SIGINT calling :meth:`stop`.

    It claims only the task names it has handlers for (its registry's and the built-ins),
    and registers them (``register_worker``'s ``task_names``): a task of another name waits
    QUEUED, its attempts untouched, for a worker that handles it, and shows in
    ``taskq.unhandled_tasks`` while none runs. ``any_name=True`` claims every name instead; a
    task without a handler then fails with ``no handler registered for '<name>'``.

    With ``metrics`` (what ``--metrics-port`` serves) it times each handler and counts claims,
    reports and reconnections; without, it observes nothing.
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
        maintenance_interval: float = 60.0,
        schedules_interval: float = 60.0,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        if not queues or any(not q for q in queues):
            raise ValueError("a worker needs at least one non-empty queue name")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if grace < 0:
            raise ValueError(f"grace must not be negative, not {grace}")
        if lease <= 0 or poll <= 0:
            raise ValueError("lease and poll must be positive numbers of seconds")
        if not maintenance_interval >= 0 or maintenance_interval == float("inf"):
            raise ValueError(
                f"maintenance_interval must be a number of seconds >= 0, not {maintenance_interval}"
            )
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
        #: what ``--metrics-port`` serves (None: nothing is observed)
        self.metrics = metrics
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
        # set by a NOTIFY taskq_schedules: a schedule was made, changed or removed
        self._schedules_changed = asyncio.Event()
        # set on any connection trouble: a claim may have committed without its answer arriving
        answers_lost = asyncio.Event()
        # the tasks this worker holds, from their claim until their outcome is reported
        self._held: dict[UUID, Running] = {}
        # how many of them still run their handler (the rest wait for their report)
        self._handling = 0
        # set whenever a held task is let go (drain waits on it)
        self._let_go = asyncio.Event()
        # the runners of handlers that went on after being cancelled (see _stuck)
        self._stuck_runners: set[asyncio.Task[None]] = set()

        def database(size: int) -> Database:
            return Database(
                database_url,
                size=size,
                connect_timeout=connect_timeout,
                answers_lost=answers_lost,
                prepare=prepare,
            )

        # The claimer and the reporter make one call at a time, each on a connection of its
        # own: a pool hands out the connection that sat idle longest, and a call on a server
        # process that has just answered the previous one is faster (see the README's worker).
        # The other parts share a pool; concurrency + 3 connections at most in all.
        self._db = database(concurrency + 1)
        self._claims = database(1)
        self._reports = database(1)
        self._registration = Registration(
            self._db,
            name=self.name,
            queues=self.queues,
            task_names=self.claimed_names(),
            stopping=self._stopping,
            connect_timeout=connect_timeout,
        )
        self._listener = Listener(
            database_url,
            self._registration,
            listen_url=listen_url,
            prepare=prepare,
            connect_timeout=connect_timeout,
            poll=poll,
            queues=self.queues,
            wake=self._wake,
            heartbeat_now=self._heartbeat_now,
            listening=self._listening,
            answers_lost=answers_lost,
            schedules_changed=self._schedules_changed,
            metrics=metrics,
        )
        self._claimer = Claimer(
            self._claims,
            self._registration,
            queues=self.queues,
            names=self.claimed_names(),
            room=self._room,
            lease=lease,
            poll=poll,
            held=self._held,
            start=self._start,
            stopping=self._stopping,
            wake=self._wake,
            answers_lost=answers_lost,
            metrics=metrics,
        )
        self._executor = Executor(self.handler, stuck=self._stuck)
        # None without opentelemetry-api: then no span, and no cost
        self._spans = handler_spans()
        self._progress = ProgressWriter(self._db)
        self._reporter = Reporter(
            self._reports,
            abandon=self._abandon,
            settled=self._let_go_of,
            before=self._progress.flush,
            metrics=metrics,
        )
        self._heartbeat = Heartbeat(
            self._db, self._registration, lease=lease, held=self._held, now=self._heartbeat_now
        )
        self._maintenance = Maintenance(
            self._db, every=maintenance_interval, stopping=self._stopping
        )
        self._scheduler = Scheduler(
            self._db,
            handlers=list(self.registry),
            stopping=self._stopping,
            changed=self._schedules_changed,
            most=schedules_interval,
        )
        if metrics is not None:
            metrics.attach(running=lambda: len(self._held), task_names=self.handler_names())

    # --- public --------------------------------------------------------------------------
    def stop(self, *, force: bool = False) -> None:
        """Stop claiming at once; running handlers get ``grace`` seconds (none with ``force``),
        then what is left is cancelled and handed back. Call it on the worker's event loop."""
        if not self._stopping.is_set():
            log.info("stopping: no new claims; %d task(s) running", len(self._held))
        self._stopping.set()
        if force:
            self._force.set()
            self._let_go.set()  # the drain stops waiting
        self._wake.set()

    @property
    def worker_id(self) -> UUID | None:
        """The id of the worker's row in ``taskq.workers`` (a new one after registering again)."""
        return self._registration.worker_id

    @property
    def poll_only(self) -> bool:
        """True once the worker found a connection pooler on its database URL and no
        ``listen_url``: it does not LISTEN and finds new tasks by polling every ``poll``."""
        return self._listener.poll_only

    @property
    def running(self) -> int:
        """How many tasks this worker holds right now."""
        return len(self._held)

    def handler(self, name: str) -> Handler | None:
        """The handler for a task name: the registry's, else a built-in."""
        found = self.registry.get(name)
        return BUILTINS.get(name) if found is None else found

    def handler_names(self) -> list[str]:
        return sorted(set(self.registry.names()) | set(BUILTINS.names()))

    def claimed_names(self) -> list[str] | None:
        """The task names this worker claims: its handlers', or None (any) with ``any_name``."""
        return None if self.any_name else self.handler_names()

    async def run(self) -> None:
        """Run until :meth:`stop`; return once the worker has unregistered."""
        for db in (self._db, self._claims, self._reports):
            await db.open()
        background: list[asyncio.Task[None]] = []
        try:
            # LISTEN before registering: once the worker's row exists, no notification is missed.
            background.append(asyncio.create_task(self._listener.run(), name="taskq-listen"))
            if not await wait_event(self._listening, self.connect_timeout):
                log.warning("LISTEN is not established yet; relying on polling meanwhile")
            if not await self._registration.register():
                return
            background.append(asyncio.create_task(self._heartbeat.run(), name="taskq-heartbeat"))
            background.append(asyncio.create_task(self._reporter.run(), name="taskq-report"))
            background.append(asyncio.create_task(self._progress.run(), name="taskq-progress"))
            background.append(
                asyncio.create_task(self._maintenance.run(), name="taskq-maintenance")
            )
            background.append(asyncio.create_task(self._scheduler.run(), name="taskq-schedules"))
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
            await self._claimer.run()
            self.claims_stopped.set()
            await self._drain()
            await self._registration.unregister()
        finally:
            self.ready.clear()
            leftovers = [e.runner for e in self._held.values() if e.runner is not None]
            leftovers.extend(self._stuck_runners)
            for job in [*background, *leftovers]:
                job.cancel()
            if background or leftovers:
                await asyncio.wait([*background, *leftovers], timeout=self.connect_timeout)
            for db in (self._db, self._claims, self._reports):
                await db.close()
            log.info("worker %s stopped", self.worker_id)

    # --- a claimed task, from its claim to its report ---------------------------------------
    def _room(self) -> int:
        """How many tasks to claim now: one per idle handler place, while at most
        ``concurrency`` outcomes wait to be reported (none while the reports lag further)."""
        if len(self._held) - self._handling > self.concurrency:
            return 0
        return self.concurrency - self._handling

    def _start(self, task: Claimed) -> None:
        """The claimer hands over a claimed task: hold it and run it, in one asyncio task."""
        context = TaskContext(
            task_id=task.id,
            name=task.name,
            queue=task.queue,
            attempt=task.attempts,
            max_attempts=task.max_attempts,
            payload=task.payload,
            worker_id=self._registration.id,
        )
        entry = Running(task, context, monotonic())
        context.on_progress = functools.partial(
            _call_soon, asyncio.get_running_loop(), self._progress.mark, entry
        )
        self._held[task.id] = entry
        self._handling += 1
        entry.runner = asyncio.create_task(self._run_task(entry))

    async def _run_task(self, entry: Running) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s started (queue %s)", entry.label, entry.task.queue, extra=entry.log_fields()
            )
        try:
            if self._spans is None or not self._spans.wanted(entry.task):
                outcome = await self._executor.run(entry)
            else:
                outcome = await self._spans.run(entry, self._executor.run)
        except Exception as error:  # the executor turns a handler's errors into outcomes
            log.exception("%s: the worker failed to run it", entry.label, extra=entry.log_fields())
            outcome = Failed(describe_error(error))
        if entry.abandoned:
            return  # reported already, without waiting for this handler (see _stuck)
        self._handed_over(entry, outcome)

    def _handed_over(self, entry: Running, outcome: Outcome) -> None:
        entry.ended = monotonic()
        self._handling -= 1
        if self.metrics is not None:
            self.metrics.handled(entry, outcome)
        self._reporter.report(entry, outcome)
        self._wake.set()  # room for another claim

    def _stuck(self, entry: Running) -> None:
        """A stopped handler did not end: report its attempt (cancelled, or failed by its timeout)
        without it."""
        reason = entry.context.cancel_reason
        assert reason is not None, "only a cancelled handler is waited for"
        log.warning(
            "%s: its handler goes on %gs after being cancelled; reporting it without waiting",
            entry.label,
            STUCK_AFTER,
            extra=entry.log_fields(),
        )
        entry.abandoned = True
        if entry.runner is not None:
            self._stuck_runners.add(entry.runner)
            entry.runner.add_done_callback(self._stuck_runners.discard)
        self._handed_over(entry, stopped(entry))

    def _let_go_of(self, entry: Running) -> None:
        """The reporter is done with the task's outcome: the worker holds it no more."""
        if self._held.get(entry.task.id) is entry:
            del self._held[entry.task.id]
        self._let_go.set()
        self._wake.set()  # room, when outcomes were waiting

    # --- stopping ------------------------------------------------------------------------------
    async def _drain(self) -> None:
        """Let running handlers finish within the grace period, then cancel what is left."""
        if self._held:
            log.info(
                "waiting up to %gs for %d running task(s) to finish", self.grace, len(self._held)
            )
        deadline = monotonic() + self.grace
        while True:
            self._let_go.clear()  # set as held tasks are let go, and by a forced stop
            remaining = deadline - monotonic()
            if not self._held or remaining <= 0 or self._force.is_set():
                break
            await wait_event(self._let_go, remaining)
        if not self._held:
            return
        log.warning("cancelling %d task(s) still running; they are handed back", len(self._held))
        for entry in list(self._held.values()):
            entry.context.request_cancel("shutdown")
        self._abandon.set()
        deadline = monotonic() + self.connect_timeout + 2.0
        while self._held and monotonic() < deadline:
            self._let_go.clear()
            await wait_event(self._let_go, deadline - monotonic())


def _call_soon(
    loop: asyncio.AbstractEventLoop, callback: Callable[[Running], None], entry: Running
) -> None:
    """Run ``callback(entry)`` on ``loop`` from any thread (not at all once the loop is closed:
    a handler thread that outlived its worker reports to nobody)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, entry)
