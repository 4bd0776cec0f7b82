"""The reporter: hands the outcomes of finished handlers to the database.

A runner calls :meth:`Reporter.report` and goes: the outcome waits in the reporter, whose loop
sends every outcome that arrived while its previous call ran in the next call, one per kind:
``complete_many(task_ids, lease_tokens, results)`` and ``fail_many(task_ids, lease_tokens,
errors)``, the array forms that return a count and three columns instead of whole rows. So a
single task is reported as soon as it ends and, under load, one round trip and one commit serve
many, while the claimer's next claim runs on another connection. Once the database has an
outcome (or the reporter gave up on it), ``settled(entry)`` is called.

While the database is away it retries with a :class:`ReconnectDelay` until ``abandon`` is set;
a report the database refuses (55000: the task is no longer this worker's) is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from taskq import client
from taskq.client import Connection
from taskq.errors import InvalidArgument, TaskqError, Unavailable
from taskq.rules import Status
from worker.database import Call
from worker.metrics import WorkerMetrics
from worker.outcomes import Cancelled, Failed, Outcome, Running, Succeeded, first_line
from worker.waiting import ReconnectDelay, wait_event

log = logging.getLogger("taskq.worker")

# at most this many outcomes in one complete_many / fail_many call
REPORT_BATCH = 500


@dataclass(frozen=True)
class Stored:
    """What the database made of a task it took the outcome of: COMPLETED, or for a failure
    QUEUED again (due at ``scheduled_at``), FAILED or CANCELLED."""

    status: Status
    scheduled_at: datetime | None = None


COMPLETED = Stored("COMPLETED")


@dataclass(eq=False)
class Report:
    """An outcome waiting to be reported, and the future that says when it was (None: not
    reported, because the task is no longer this worker's or the worker gave up)."""

    entry: Running
    outcome: Outcome
    reported: asyncio.Future[Stored | None]
    substituted: bool = False

    @property
    def error(self) -> str:
        if isinstance(self.outcome, Failed):
            return self.outcome.error
        return f"cancelled while running (attempt {self.entry.task.attempts})"

    def settle(self, stored: Stored | None) -> None:
        if not self.reported.done():
            self.reported.set_result(stored)

    def substitute(self, refusal: TaskqError) -> None:
        """Report a failure, saying why, instead of an outcome the database refused to store."""
        what = "result" if isinstance(self.outcome, Succeeded) else "error"
        error = f"the {what} of this attempt could not be stored: {refusal}"
        if isinstance(self.outcome, Failed):
            began = first_line(self.outcome.error)[:500].replace("\x00", "\\x00")
            error = f"{error}; it began: {began}"
        self.outcome = Failed(error)
        self.substituted = True


def _nothing(entry: Running) -> None:
    pass


async def _nothing_before(entries: list[Running]) -> None:
    pass


class Reporter:
    """Reports outcomes through ``db``; gives up on a database that is away once ``abandon``
    is set (the worker is leaving). ``settled(entry)`` runs once an outcome is done with;
    ``before(entries)`` is awaited before their outcomes are sent (the progress still waiting)."""

    def __init__(
        self,
        db: Call,
        *,
        abandon: asyncio.Event,
        settled: Callable[[Running], None] = _nothing,
        before: Callable[[list[Running]], Awaitable[None]] = _nothing_before,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.db = db
        self.abandon = abandon
        self.settled = settled
        self.before = before
        self.metrics = metrics
        self._unreported: list[Report] = []
        self._waiting = asyncio.Event()

    @property
    def waiting(self) -> int:
        """How many outcomes wait for the next call."""
        return len(self._unreported)

    def report(self, entry: Running, outcome: Outcome) -> asyncio.Future[Stored | None]:
        """Hand the outcome to the loop; the future is done once the database has it."""
        reported: asyncio.Future[Stored | None] = asyncio.get_running_loop().create_future()
        if isinstance(outcome, Cancelled) and outcome.reason == "shutdown":
            # unregister_worker hands it back: QUEUED again, this attempt not counted
            log.warning(
                "%s interrupted by shutdown after %.3fs; handing it back",
                entry.label,
                entry.elapsed(),
                extra=entry.log_fields(duration=True),
            )
            reported.set_result(None)
            self.settled(entry)
            return reported
        self._unreported.append(Report(entry, outcome, reported))
        self._waiting.set()
        return reported

    async def run(self) -> None:
        """Report what arrives, in batches, until cancelled."""
        while True:
            await self._waiting.wait()
            self._waiting.clear()
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
                            self._done(report, None)

    def _done(self, report: Report, stored: Stored | None) -> None:
        report.settle(stored)
        entry = report.entry
        if stored is not None:
            log_outcome(entry, report.outcome, stored)
        if self.metrics is not None:
            self.metrics.reported(None if stored is None else stored.status)
        self.settled(entry)

    async def _settle(self, group: list[Report]) -> None:
        """One call for the group, retried while the database is away; when one task of a batch
        is no longer this worker's (the batch call changes nothing then), one call per task."""
        try:
            await self.before([report.entry for report in group])
        except Exception:
            log.exception("writing the progress of %d task(s) failed", len(group))
        delay = ReconnectDelay()
        while True:
            try:
                stored = await self.db(send_outcomes, group)
            except Unavailable as problem:
                if self.abandon.is_set():
                    for report in group:
                        log.error(
                            "%s: outcome not reported, the database is away (%s)",
                            report.entry.label,
                            problem,
                            extra=report.entry.log_fields(),
                        )
                        self._done(report, None)
                    return
                seconds = delay.next()
                log.warning(
                    "cannot report the outcome of %d task(s) (%s); retrying in %.1fs",
                    len(group),
                    problem,
                    seconds,
                )
                await wait_event(self.abandon, seconds)
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
                    log.warning(
                        "%s: its outcome cannot be stored (%s)",
                        entry.label,
                        problem,
                        extra=entry.log_fields(),
                    )
                    group[0].substitute(problem)
                    await self._settle(group)
                    return
                log.warning(
                    "%s ended after %.3fs, but its outcome was refused: %s",
                    entry.label,
                    entry.elapsed(),
                    problem,
                    extra=entry.log_fields(duration=True),
                )
                self._done(group[0], None)
                return
            for report, one in zip(group, stored, strict=True):
                self._done(report, one)
            return


async def send_outcomes(conn: Connection, group: list[Report]) -> list[Stored]:
    """complete_many / fail_many in their array forms (one kind a group)."""
    task_ids = [r.entry.task.id for r in group]
    tokens = [r.entry.task.lease_token for r in group]
    if isinstance(group[0].outcome, Succeeded):
        results = [r.outcome.json_text for r in group if isinstance(r.outcome, Succeeded)]
        assert len(results) == len(group), "one kind a group"
        await client.complete_encoded(conn, task_ids, tokens, results)
        return [COMPLETED] * len(group)
    rows = await client.fail_arrays(conn, task_ids, tokens, [r.error for r in group])
    return [Stored(row.status, row.scheduled_at) for row in rows]


def log_outcome(entry: Running, outcome: Outcome, stored: Stored) -> None:
    """One line per outcome; none built for a completion unless INFO is on."""
    if isinstance(outcome, Succeeded | Cancelled):
        if not log.isEnabledFor(logging.INFO):
            return
        fields = entry.log_fields(duration=True)
        if isinstance(outcome, Succeeded):
            log.info("%s completed in %.3fs", entry.label, fields["duration"], extra=fields)
        else:
            log.info(
                "%s cancelled after %.3fs; now %s",
                entry.label,
                fields["duration"],
                stored.status,
                extra=fields,
            )
        return
    retried = stored.status == "QUEUED"
    if not log.isEnabledFor(logging.WARNING if retried else logging.ERROR):
        return
    fields = entry.log_fields(duration=True)
    if retried:
        assert stored.scheduled_at is not None, "a retry has a due time"
        log.warning(
            "%s failed in %.3fs: %s; retry at %s",
            entry.label,
            fields["duration"],
            first_line(outcome.error),
            stored.scheduled_at.isoformat(),
            extra=fields,
        )
    else:
        log.error(
            "%s failed in %.3fs: %s; now %s",
            entry.label,
            fields["duration"],
            first_line(outcome.error),
            stored.status,
            extra=fields,
        )
