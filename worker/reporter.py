"""The reporter: hands the outcomes of finished handlers to the database.

A runner calls :meth:`Reporter.report` and waits until the database has the outcome. The
reporter's loop sends every outcome that arrived while its previous call ran in the next
``complete_many`` / ``fail_many`` call (one alone: ``complete`` / ``fail``), so a single task is
reported as soon as it ends and, under load, one round trip and one commit serve many. While
the database is away it retries with a :class:`ReconnectDelay` until ``abandon`` is set; a
report the database refuses (55000: the task is no longer this worker's) is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from uuid import UUID

from taskq import client
from taskq.client import Connection, Task
from taskq.errors import InvalidArgument, TaskqError, Unavailable
from worker.database import Call
from worker.outcomes import Cancelled, Failed, Outcome, Running, Succeeded, first_line
from worker.waiting import ReconnectDelay, wait_event

log = logging.getLogger("taskq.worker")

# at most this many outcomes in one complete_many / fail_many call
REPORT_BATCH = 500


@dataclass(eq=False)
class Report:
    """An outcome waiting to be reported, and the future its runner awaits (None: not
    reported, because the task is no longer this worker's or the worker gave up)."""

    entry: Running
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


class Reporter:
    """Reports outcomes through ``db``; gives up on a database that is away once ``abandon``
    is set (the worker is leaving)."""

    def __init__(self, db: Call, *, abandon: asyncio.Event) -> None:
        self.db = db
        self.abandon = abandon
        self._unreported: list[Report] = []
        self._waiting = asyncio.Event()

    async def report(self, entry: Running, outcome: Outcome) -> None:
        """Hand the outcome to the loop and wait until the database has it."""
        if isinstance(outcome, Cancelled) and outcome.reason == "shutdown":
            # unregister_worker hands it back: QUEUED again, this attempt not counted
            log.warning(
                "%s interrupted by shutdown after %.3fs; handing it back",
                entry.label,
                entry.elapsed(),
            )
            return
        reported: asyncio.Future[Task | None] = asyncio.get_running_loop().create_future()
        report = Report(entry, outcome, reported)
        self._unreported.append(report)
        self._waiting.set()
        row = await reported
        if row is not None:
            log_outcome(entry, report.outcome, row)

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
                            report.settle(None)

    async def _settle(self, group: list[Report]) -> None:
        """One call for the group, retried while the database is away; when one task of a batch
        is no longer this worker's (the batch call changes nothing then), one call per task."""
        delay = ReconnectDelay()
        while True:
            try:
                rows = await self.db(send_outcomes, group)
            except Unavailable as problem:
                if self.abandon.is_set():
                    for report in group:
                        log.error(
                            "%s: outcome not reported, the database is away (%s)",
                            report.entry.label,
                            problem,
                        )
                        report.settle(None)
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


async def send_outcomes(conn: Connection, group: list[Report]) -> list[Task]:
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


def log_outcome(entry: Running, outcome: Outcome, row: Task) -> None:
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
