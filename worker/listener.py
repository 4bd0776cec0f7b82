"""The listener: one dedicated LISTEN connection, reconnected with a delay when it drops.

A NOTIFY on ``taskq`` naming one of the worker's queues sets ``wake`` (the claimer looks for
work); one on ``taskq_cancel`` carrying the worker's id sets ``heartbeat_now`` (the heartbeat
learns which task was cancelled). ``listening`` is set once LISTEN is established, or known to
be impossible. The connection goes to ``listen_url`` when given (a direct connection beside a
pooled database URL), else to the database URL, unless a connection pooler is detected there:
LISTEN cannot work through transaction pooling, so the worker then only polls
(:attr:`Listener.poll_only`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import psycopg

from taskq import client
from taskq.client import Connection
from taskq.errors import TaskqError
from taskq.pool import behind_pooler, connect
from taskq.settings import Prepare
from worker.metrics import WorkerMetrics
from worker.registration import Registration
from worker.waiting import ReconnectDelay

log = logging.getLogger("taskq.worker")

LISTEN_APPLICATION = "taskq-worker-listen"


class Listener:
    def __init__(
        self,
        database_url: str,
        registration: Registration,
        *,
        listen_url: str | None,
        prepare: Prepare | None,
        connect_timeout: float,
        poll: float,
        queues: Sequence[str],
        wake: asyncio.Event,
        heartbeat_now: asyncio.Event,
        listening: asyncio.Event,
        answers_lost: asyncio.Event,
        schedules_changed: asyncio.Event | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.url = listen_url or database_url
        self.registration = registration
        self.listen_url = listen_url
        self.prepare = prepare
        self.connect_timeout = connect_timeout
        self.poll = poll
        self.queues = set(queues)
        self.wake = wake
        self.heartbeat_now = heartbeat_now
        self.listening = listening
        self.answers_lost = answers_lost
        self.schedules_changed = schedules_changed
        self.metrics = metrics
        #: True once a connection pooler was found on the database URL, and no ``listen_url``
        self.poll_only = False

    async def run(self) -> None:
        """Listen until cancelled (or, behind a pooler, return: the worker polls)."""
        delay = ReconnectDelay(first=0.2)
        lost = False
        while True:
            try:
                conn = await connect(
                    self.url,
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
                seconds = delay.next()
                log.warning(
                    "cannot open the LISTEN connection (%s); retrying in %.1fs", error, seconds
                )
                await asyncio.sleep(seconds)
                continue
            try:
                async with conn:
                    if await self._pooler_in_the_way(conn):
                        return
                    await client.listen(conn, client.NOTIFY_CHANNEL)
                    await client.listen(conn, client.CANCEL_CHANNEL)
                    await client.listen(conn, client.SCHEDULES_CHANNEL)
                    self.listening.set()
                    if lost:
                        log.info("LISTEN connection re-established")
                        if self.metrics is not None:
                            self.metrics.reconnected()
                        # notifications sent while it was down are lost: look for work now
                        self.wake.set()
                        self.heartbeat_now.set()
                    delay.reset()
                    async for notification in conn.notifies():
                        self.on_notify(notification.channel, notification.payload)
            except (psycopg.Error, TaskqError) as error:
                lost = True
                self.answers_lost.set()
                seconds = delay.next()
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", error, seconds)
                self.wake.set()
                await asyncio.sleep(seconds)

    def on_notify(self, channel: str, payload: str) -> None:
        if channel == client.NOTIFY_CHANNEL:
            if payload in self.queues:
                self.wake.set()
        elif channel == client.CANCEL_CHANNEL and payload == str(self.registration.worker_id):
            self.heartbeat_now.set()
        elif channel == client.SCHEDULES_CHANNEL and self.schedules_changed is not None:
            self.schedules_changed.set()

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
        self.listening.set()
        log.warning(
            "the database URL goes through a connection pooler, where LISTEN cannot work: "
            "polling every %gs; set TASKQ_LISTEN_URL to a direct connection to wake on NOTIFY",
            self.poll,
        )
        return True
