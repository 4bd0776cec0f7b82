"""The progress writer: stores what handlers report with ``ctx.report_progress``.

A handler's report only replaces the value its context keeps (the latest one wins) and, when no
value was waiting, asks this part to write it (:meth:`ProgressWriter.mark`, on the event loop).
The loop writes every waiting value in one ``report_progress`` call of the array form, at most
once every ``every`` seconds: one write per task per second at most, however often its handler
reports. Before a task's outcome is sent the reporter calls :meth:`ProgressWriter.flush`, which
writes its waiting value first (after a write of it under way), so the last value is never lost.

A value the database does not store because the task is no longer this worker's (its lease ran
out, it was rescued or finished) is dropped quietly; one it refuses (22023) is dropped with a
warning; while the database is away the values wait for the next write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from time import monotonic
from uuid import UUID

from taskq import client
from taskq.errors import InvalidArgument, TaskqError, Unavailable
from worker.database import Call
from worker.outcomes import Running

log = logging.getLogger("taskq.worker")


class ProgressWriter:
    """Writes the waiting progress values of the worker's tasks through ``db``."""

    def __init__(self, db: Call, *, every: float = 1.0) -> None:
        self.db = db
        self.every = every
        # by entry, not task id: a task claimed again is another entry, with another lease token
        self._waiting: dict[Running, None] = {}
        self._sending: set[Running] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._last = float("-inf")

    def mark(self, entry: Running) -> None:
        """The task's context has a value waiting (on the event loop's thread)."""
        self._waiting[entry] = None
        self._wake.set()

    async def run(self) -> None:
        """Write what waits, at most once every ``every`` seconds, until cancelled."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(max(self._last + self.every - monotonic(), 0.0))
            self._wake.clear()
            async with self._lock:
                entries, self._waiting = list(self._waiting), {}
                await self._write(entries)
            self._last = monotonic()

    async def flush(self, entries: Iterable[Running]) -> None:
        """Write the waiting values of these tasks now (their outcomes follow), after any write
        of theirs under way."""
        mine = set(entries)
        if mine.isdisjoint(self._waiting) and mine.isdisjoint(self._sending):
            return
        async with self._lock:
            due = [entry for entry in mine if entry in self._waiting]
            for entry in due:
                del self._waiting[entry]
            await self._write(due)

    async def _write(self, entries: list[Running]) -> None:
        """One call for the entries' waiting values (the lock held)."""
        taken = [(entry, *entry.context.take_progress()) for entry in entries]
        batch = [(entry, text) for entry, waiting, text in taken if waiting]
        if not batch:
            return
        self._sending = {entry for entry, _ in batch}
        try:
            stored = await self.db(
                client.report_progress_many,
                [entry.task.id for entry, _ in batch],
                [entry.task.lease_token for entry, _ in batch],
                [text for _, text in batch],
            )
        except Unavailable as problem:
            log.warning("cannot write the progress of %d task(s) (%s)", len(batch), problem)
            for entry, text in batch:
                entry.context.restore_progress(text)
                self.mark(entry)
            return
        except InvalidArgument:
            stored = await self._one_by_one(batch)
        except TaskqError as problem:
            log.warning("the progress of %d task(s) was not stored: %s", len(batch), problem)
            return
        finally:
            self._sending = set()
        for entry, _ in batch:
            if entry.task.id not in stored:
                log.debug("%s: its progress was not stored: no longer this worker's", entry.label)

    async def _one_by_one(self, batch: list[tuple[Running, str | None]]) -> set[UUID]:
        """A value of the batch was refused: store the others, drop that one saying why."""
        stored: set[UUID] = set()
        for entry, text in batch:
            try:
                stored |= await self.db(
                    client.report_progress_many, [entry.task.id], [entry.task.lease_token], [text]
                )
            except TaskqError as problem:
                log.warning(
                    "%s: its progress was refused: %s",
                    entry.label,
                    problem,
                    extra=entry.log_fields(),
                )
                stored.add(entry.task.id)  # said already
        return stored
