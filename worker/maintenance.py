"""The maintenance turn: about every ``every`` seconds (jittered by a fifth either way), the
worker calls ``taskq.maintain``, which removes dead workers, rescues expired leases and prunes
finished tasks past their retention. The workers all do, and the SQL lets one at a time through
(an advisory lock): the others' calls return at once. A full batch pruned is followed by
another call at once, until the backlog is gone or the worker stops.

It runs on the worker's pool, between the other calls; a failed call is logged and tried again
at the next turn. ``every`` 0 turns it off (pg_cron, say, runs ``taskq.maintain`` instead).
"""

from __future__ import annotations

import asyncio
import logging
import random

from taskq import client
from worker.database import Call
from worker.waiting import wait_event

log = logging.getLogger("taskq.worker")


class Maintenance:
    """Calls ``taskq.maintain`` every ``every`` seconds or so until ``stopping`` is set."""

    def __init__(self, db: Call, *, every: float, stopping: asyncio.Event) -> None:
        self.db = db
        self.every = every
        self.stopping = stopping
        #: turns that ran (not those that found another maintenance running)
        self.turns = 0

    async def run(self) -> None:
        if self.every <= 0:
            return
        while not await wait_event(self.stopping, self.every * random.uniform(0.8, 1.2)):
            await self.turn()

    async def turn(self) -> None:
        """One turn: maintain, again while a full batch was pruned."""
        try:
            while True:
                done = await self.db(client.maintain)
                if not done.ran:
                    return
                self.turns += 1
                if done.workers_removed or done.tasks_rescued or done.total:
                    log.info(
                        "maintenance: %d dead worker(s) removed, %d task(s) rescued, pruned "
                        "%d completed, %d failed, %d cancelled",
                        done.workers_removed,
                        done.tasks_rescued,
                        done.completed,
                        done.failed,
                        done.cancelled,
                    )
                if not done.more or self.stopping.is_set():
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never the worker's end: the next turn tries again
            log.warning("maintenance failed (%s); trying again in about %gs", error, self.every)
