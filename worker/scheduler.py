"""The schedules turn: the worker declares the schedules of its handlers (``@task(cron=...)``)
once it is registered, then calls ``taskq.run_schedules`` whenever a tick may be due: it sleeps
until the earliest ``next_run_at`` (by the database's clock), at most ``most`` seconds, and
wakes early on a NOTIFY ``taskq_schedules`` (a schedule made, changed or removed). Every worker
does; the SQL enqueues each tick once (rows locked ``FOR UPDATE SKIP LOCKED``), so the calls of
the others find nothing to do.

It runs on the worker's pool, between the other calls; a failed call is logged and tried again
after a short delay, never the worker's end. ``most`` 0 turns it off (pg_cron runs
``taskq.run_schedules`` instead); the worker then still declares its handlers' schedules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from taskq import client
from worker.database import Call
from worker.registry import Handler
from worker.waiting import ReconnectDelay, wait_event

log = logging.getLogger("taskq.worker")


class Scheduler:
    """Declares ``handlers``' schedules, then runs the due ticks until ``stopping`` is set."""

    def __init__(
        self,
        db: Call,
        *,
        handlers: Sequence[Handler],
        stopping: asyncio.Event,
        changed: asyncio.Event,
        most: float = 60.0,
    ) -> None:
        self.db = db
        self.handlers = [h for h in handlers if h.cron is not None]
        self.stopping = stopping
        self.changed = changed
        self.most = most
        #: tasks this worker's calls enqueued
        self.enqueued = 0

    async def run(self) -> None:
        delay = ReconnectDelay(first=0.5, most=10.0)
        while not self.stopping.is_set():
            try:
                await self.declare()
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bad cron is logged, not the worker's end
                seconds = delay.next()
                log.warning(
                    "declaring schedules failed (%s); trying again in %.1fs", error, seconds
                )
                if await wait_event(self.stopping, seconds):
                    return
        if self.most <= 0:
            return
        delay.reset()
        while not self.stopping.is_set():
            self.changed.clear()
            try:
                seconds = await self.turn()
                delay.reset()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # never the worker's end: try again soon
                seconds = delay.next()
                log.warning("running schedules failed (%s); trying again in %.1fs", error, seconds)
            await self._sleep(seconds)

    async def _sleep(self, seconds: float) -> None:
        """Up to ``seconds``, or until the worker stops or a schedule changed."""
        waiters = {
            asyncio.ensure_future(self.stopping.wait()),
            asyncio.ensure_future(self.changed.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def declare(self) -> None:
        for handler in self.handlers:
            assert handler.cron is not None
            made = await self.db(
                client.schedule,
                handler.name,
                handler.cron,
                time_zone=handler.time_zone,
                declare=True,
            )
            log.info(
                "schedule %s: %s (%s), next run %s",
                made.name,
                made.cron,
                made.time_zone,
                made.next_run_at,
            )

    async def turn(self) -> float:
        """One call of run_schedules; the seconds to sleep until the next may be due."""
        done = await self.db(client.run_schedules)
        self.enqueued += done.enqueued
        if done.enqueued:
            log.info("schedules: %d task(s) enqueued", done.enqueued)
        if done.seconds_until is None:
            return self.most
        # a little past the tick, so that it is due when the call arrives
        return min(max(done.seconds_until, 0.0) + 0.005, self.most)
