"""The worker's row in ``taskq.workers``: register, register again, unregister.

The other parts read :attr:`Registration.worker_id`; one whose call finds the row gone
(P0002, :class:`~taskq.errors.NotFound`) calls :meth:`Registration.reregister`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from time import monotonic
from uuid import UUID

from taskq import client
from taskq.errors import NotFound, TaskqError, Unavailable
from worker.database import Call
from worker.waiting import ReconnectDelay, wait_event

log = logging.getLogger("taskq.worker")


class Registration:
    """Registers as ``name`` serving ``queues`` with handlers for ``task_names`` (None: any)."""

    def __init__(
        self,
        db: Call,
        *,
        name: str,
        queues: Sequence[str],
        task_names: Sequence[str] | None,
        stopping: asyncio.Event,
        connect_timeout: float,
    ) -> None:
        self.db = db
        self.name = name
        self.queues = list(queues)
        self.task_names = None if task_names is None else list(task_names)
        self.stopping = stopping
        self.connect_timeout = connect_timeout
        self.worker_id: UUID | None = None
        self._lock = asyncio.Lock()

    @property
    def id(self) -> UUID:
        """The worker's id; only once registered."""
        assert self.worker_id is not None, "the worker is not registered yet"
        return self.worker_id

    async def register(self) -> bool:
        """Register (again, after the row vanished), retrying while the database is away.
        False when the worker was stopped first."""
        delay = ReconnectDelay()
        while not self.stopping.is_set():
            try:
                self.worker_id = await self.db(
                    client.register_worker,
                    self.name,
                    queues=self.queues,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    task_names=self.task_names,
                )
            except Unavailable as error:
                seconds = delay.next()
                log.warning("cannot register (%s); retrying in %.1fs", error, seconds)
                await wait_event(self.stopping, seconds)
                continue
            return True
        return False

    async def reregister(self, gone: UUID) -> None:
        """Register again, once, however many parts found the row ``gone``."""
        async with self._lock:
            if self.worker_id != gone or self.stopping.is_set():
                return
            log.warning("worker %s is no longer registered; registering again", gone)
            if await self.register():
                log.info("registered again as worker %s", self.worker_id)

    async def unregister(self) -> None:
        """Leave, handing back what the worker still holds; retried for a while, then left to
        the leases."""
        worker_id = self.id
        delay = ReconnectDelay()
        deadline = monotonic() + 2 * self.connect_timeout
        while True:
            try:
                handed_back = await self.db(client.unregister_worker, worker_id)
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
                await asyncio.sleep(delay.next())
                continue
            log.info("unregistered worker %s; %d task(s) handed back", worker_id, handed_back)
            return
