"""The heartbeat: at once, then every third of the lease, ``heartbeat`` extends the leases of
the tasks the worker holds (their ids passed as ``task_ids``) and answers which of them were
cancelled; their handlers are asked to stop. The first beat stores the lease in the worker's
row, by which ``taskq.maintain`` tells a dead worker (one silent for ten leases).

``now`` makes it beat at once (a NOTIFY on ``taskq_cancel`` carrying this worker's id, or the
LISTEN connection coming back). A heartbeat that finds the worker's row gone registers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from uuid import UUID

from taskq import client
from taskq.errors import NotFound, TaskqError
from worker.database import Call
from worker.outcomes import Running
from worker.registration import Registration
from worker.waiting import wait_event

log = logging.getLogger("taskq.worker")


class Heartbeat:
    """Beats for ``registration``'s worker, whose held tasks are ``held`` (by id)."""

    def __init__(
        self,
        db: Call,
        registration: Registration,
        *,
        lease: float,
        held: Mapping[UUID, Running],
        now: asyncio.Event,
    ) -> None:
        self.db = db
        self.registration = registration
        self.lease = timedelta(seconds=lease)
        self.every = lease / 3
        self.held = held
        self.now = now

    async def run(self) -> None:
        """Beat until cancelled."""
        wait = 0.0
        while True:
            await wait_event(self.now, wait)
            self.now.clear()
            wait = min(self.every, 1.0)  # after a failed beat, the next one comes sooner
            worker_id = self.registration.id
            try:
                # Only the tasks it holds: one it dropped (its outcome refused, say) is rescued
                # when its lease runs out, instead of staying RUNNING for ever.
                cancelled = await self.db(
                    client.heartbeat, worker_id, self.lease, task_ids=list(self.held)
                )
            except NotFound:
                await self.registration.reregister(worker_id)
                continue
            except TaskqError as error:
                log.warning("heartbeat failed (%s); retrying", error)
                continue
            wait = self.every
            self.stop_cancelled(cancelled)

    def stop_cancelled(self, cancelled: list[UUID]) -> None:
        """Ask the handlers of the cancelled tasks the worker holds to stop."""
        for task_id in cancelled:
            entry = self.held.get(task_id)
            if entry is not None and not entry.context.cancelled:
                log.info(
                    "%s: cancellation asked; stopping its handler",
                    entry.label,
                    extra=entry.log_fields(),
                )
                entry.context.request_cancel("cancelled")
