"""The claimer: claims tasks while the worker has room, and hands each to ``start``.

While there is room (``room()``: the worker's handlers that are not running, as long as few
outcomes wait to be reported) it calls ``taskq.claim`` for the worker's queues and task names
with a batch as large as the room, then sleeps until ``wake`` is set (a NOTIFY on channel
``taskq`` names one of its queues, a handler finishes, the worker stops), the next scheduled
task falls due (``seconds_until_due``), or the slow poll comes round: NOTIFY is a hint, the
poll finds what a lost notification hid.

After connection trouble (``answers_lost``) it first asks ``held_claims`` for the tasks claimed
for this worker whose claim's answer never arrived, and starts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Sequence
from datetime import timedelta

from taskq import client
from taskq.client import Claimed
from taskq.errors import NotFound, TaskqError
from worker.database import Call
from worker.metrics import WorkerMetrics
from worker.registration import Registration
from worker.waiting import ReconnectDelay, wait_event

log = logging.getLogger("taskq.worker")

# wake this long after a scheduled task falls due, so that the claim sees it due
DUE_MARGIN = 0.001


class Claimer:
    """Claims for ``registration``'s worker as many tasks as ``room()`` says, ``held`` being
    the ids of those it holds now; ``start`` runs a claimed task."""

    def __init__(
        self,
        db: Call,
        registration: Registration,
        *,
        queues: Sequence[str],
        names: Sequence[str] | None,
        room: Callable[[], int],
        lease: float,
        poll: float,
        held: Container[object],
        start: Callable[[Claimed], None],
        stopping: asyncio.Event,
        wake: asyncio.Event,
        answers_lost: asyncio.Event,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.db = db
        self.registration = registration
        self.queues = list(queues)
        self.names = None if names is None else list(names)
        self.room = room
        self.lease = timedelta(seconds=lease)
        self.poll = poll
        self.held = held
        self.start = start
        self.stopping = stopping
        self.wake = wake
        self.answers_lost = answers_lost
        self.metrics = metrics

    async def run(self) -> None:
        """Claim until ``stopping`` is set; return once no claim is under way."""
        delay = ReconnectDelay()
        while not self.stopping.is_set():
            # Cleared before looking: a handler that ends or a notification that arrives from
            # here on wakes the loop again.
            self.wake.clear()
            free = self.room()
            timeout = self.poll
            if free > 0:
                worker_id = self.registration.id
                try:
                    if self.answers_lost.is_set():
                        self.answers_lost.clear()
                        if await self.adopt_lost_claims():
                            continue
                    tasks = await self.db(
                        client.claim,
                        worker_id,
                        queues=self.queues,
                        names=self.names,
                        lease=self.lease,
                        batch_size=free,
                    )
                except NotFound:
                    await self.registration.reregister(worker_id)
                    continue
                except TaskqError as error:
                    seconds = delay.next()
                    log.warning("cannot claim (%s); trying again in %.1fs", error, seconds)
                    await wait_event(self.stopping, seconds)
                    continue
                delay.reset()
                if self.metrics is not None:
                    self.metrics.claimed(len(tasks))
                for task in tasks:
                    self.start(task)
                if len(tasks) == free:
                    continue  # a full batch: there may be more, as soon as capacity frees
                if tasks:
                    # Let the new tasks reach their handlers before this loop's next query.
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                if self.wake.is_set():
                    # Woken while claiming (a handler ended, its outcome was stored and freed a
                    # slot): claim again first; the schedule is read once the loop is quiet.
                    continue
                # The tasks run already; now, when does the next scheduled one fall due?
                try:
                    wait = await self.db(client.seconds_until_due, self.queues)
                except TaskqError as error:
                    log.warning("cannot read the schedule (%s)", error)
                    wait, timeout = None, delay.next()
                if wait is not None:
                    # Due already (it fell due after the claim looked): look again at once.
                    timeout = min(timeout, max(wait, 0.0) + DUE_MARGIN)
            await wait_event(self.wake, timeout)

    async def adopt_lost_claims(self) -> int:
        """Start the tasks claimed for this worker whose claim's answer never arrived; how many.

        A claim can commit and its connection die before the rows reach the worker. Such a task
        is RUNNING under this worker's id; the heartbeat, which extends only the tasks the worker
        holds, lets its lease run out, and it would wait that long to be rescued. The claim was
        theirs: run them.
        """
        adopted = 0
        for task in await self.db(client.held_claims, self.registration.id):
            if task.id not in self.held:
                log.warning(
                    "task %s %r: its claim's answer was lost with the connection; running it now",
                    task.id,
                    task.name,
                )
                self.start(task)
                adopted += 1
        return adopted
