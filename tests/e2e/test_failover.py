"""Failover under load: a primary and a synchronous streaming standby started here, ``taskq api``
and ``taskq worker`` on a multi-host URL, the primary stopped dead mid-load and the standby
promoted. Every enqueue the API acknowledged ends COMPLETED on the new primary; neither process
exits. Run it alone with ``pytest -m failover``.

The servers are the PostgreSQL of the run (``TASKQ_TEST_PG``: the embedded 18 by default,
``system`` for Debian's 15), in a folder of their own, stopped by their PIDs on the way out.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from taskq import migrate
from taskq.pgserver import LocalServer, embedded_bin_dir, system_bin_dir
from tests.api.conftest import Server
from tests.worker.helpers import WorkerProcess, wait_until

pytestmark = pytest.mark.failover

REPLICATOR = "replicator"
DATABASE = "taskq"
# Durability the test relies on: a commit is acknowledged once the standby has flushed it.
PRIMARY_SETTINGS = {"wal_level": "replica", "synchronous_commit": "on", "fsync": "off"}
STANDBY_SETTINGS = {"hot_standby": "on", "fsync": "off"}
TASK = {"name": "sleep", "payload": {"seconds": 0.05}}


def bin_dir() -> Path:
    return system_bin_dir() if os.environ.get("TASKQ_TEST_PG") == "system" else embedded_bin_dir()


def admin(server: LocalServer, database: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(server.url(database), autocommit=True, connect_timeout=5)


@contextmanager
def primary_and_standby() -> Iterator[tuple[LocalServer, LocalServer]]:
    """A primary with a role for replication, and a standby streaming from it synchronously
    (``synchronous_standby_names = '*'``, set on the primary only: once promoted, the standby
    commits without waiting for a standby of its own)."""
    root = Path(tempfile.mkdtemp(prefix="taskq-failover-"))
    primary = LocalServer(bin_dir(), root / "primary")
    standby = LocalServer(bin_dir(), root / "standby")
    try:
        primary.init()
        with (primary.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host replication {REPLICATOR} 127.0.0.1/32 trust\n")
        primary.start(PRIMARY_SETTINGS)
        with admin(primary) as conn:
            conn.execute(f"CREATE ROLE {REPLICATOR} LOGIN REPLICATION")
            conn.execute(f"CREATE DATABASE {DATABASE}")
        standby.init_standby(primary, user=REPLICATOR)
        standby.start(STANDBY_SETTINGS)
        with admin(primary) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("SELECT pg_reload_conf()")
            wait_until(
                lambda: conn.execute(
                    "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'"
                ).fetchone(),
                20,
                "the standby replicates synchronously",
                interval=0.1,
            )
        yield primary, standby
    finally:
        for server in (primary, standby):
            server.stop("immediate")  # pg_ctl signals the PID in postmaster.pid
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Producer:
    """Enqueues through the REST API, one request after another, until stopped; keeps the id
    of every task the API acknowledged (201) and every other answer."""

    base_url: str
    acknowledged: list[UUID] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    unanswered: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self._stop.is_set():
                try:
                    response = http.post("/api/tasks/", json=TASK)
                except httpx.TransportError:
                    self.unanswered += 1
                    continue
                if response.status_code == 201:
                    self.acknowledged.append(UUID(response.json()["id"]))
                    self._stop.wait(0.01)
                else:
                    self.refused.append((response.status_code, response.text))
                    self._stop.wait(0.1)


def count(conn: psycopg.Connection[Any], ids: list[UUID], status: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM taskq.tasks WHERE id = ANY(%s) AND status = %s", (ids, status)
    ).fetchone()
    assert row is not None
    return int(row[0])


def urls(primary: LocalServer, standby: LocalServer) -> dict[str, str]:
    """The two ways to name both servers, by the ``target_session_attrs`` they give."""
    both = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
    reversed_ = f"127.0.0.1:{standby.port},127.0.0.1:{primary.port}"
    return {
        # the standby first: libpq passes it over while it is a standby, and takes it once
        # promoted
        "read-write": f"postgresql://postgres@{reversed_}/{DATABASE}"
        "?target_session_attrs=read-write&connect_timeout=2",
        # the primary first, and libpq takes whichever answers: between the stop and the
        # promotion every connection lands on the standby, where every write fails (25006)
        "any": f"postgresql://postgres@{both}/{DATABASE}?connect_timeout=2",
    }


def test_the_api_and_the_worker_follow_a_promoted_standby_and_lose_nothing(
    tmp_path: Path,
) -> None:
    with primary_and_standby() as (primary, standby), ExitStack() as stack:
        by_kind = urls(primary, standby)
        # Sqitch takes one host: migrate deploys to the one that takes writes
        for url in by_kind.values():
            assert migrate.sqitch_target(url).endswith(f"@127.0.0.1:{primary.port}/{DATABASE}")
        migrate.deploy(by_kind["read-write"])
        with admin(primary, DATABASE) as conn:
            conn.execute("SELECT taskq.set_concurrency('default', 16)")

        # an API and a worker on each URL
        apis = {kind: Server(url) for kind, url in by_kind.items()}
        producers = {kind: Producer(api.base_url) for kind, api in apis.items()}
        for kind, api in apis.items():
            stack.callback(api.stop)
            stack.callback(producers[kind].stop)
        workers = {
            kind: stack.enter_context(
                WorkerProcess(
                    url,
                    tmp_path / f"worker-{kind}.log",
                    *("--concurrency", "8", "--poll", "1", "--log-level", "warning"),
                )
            )
            for kind, url in by_kind.items()
        }
        for api in apis.values():
            api.wait_ready()

        def acknowledged() -> list[UUID]:
            return [task for producer in producers.values() for task in producer.acknowledged]

        with admin(primary, DATABASE) as conn:
            for worker in workers.values():
                worker.wait_ready(conn)
            for producer in producers.values():
                producer.start()
            wait_until(
                lambda: count(conn, acknowledged(), "COMPLETED") >= 50,
                30,
                "tasks complete before the failover",
                interval=0.1,
            )

        before = {kind: len(producer.acknowledged) for kind, producer in producers.items()}
        primary.stop("immediate")
        # promoted once the clients of both APIs have met the gap
        wait_until(
            lambda: all(producer.refused for producer in producers.values()),
            20,
            "both APIs refuse while no primary runs",
        )
        standby.promote()
        wait_until(
            lambda: all(len(p.acknowledged) >= before[k] + 30 for k, p in producers.items()),
            40,
            "both APIs acknowledge enqueues again\n"
            + "\n".join(api.output() for api in apis.values()),
            interval=0.1,
        )
        for producer in producers.values():
            producer.stop()

        done = acknowledged()
        with admin(standby, DATABASE) as conn:
            wait_until(
                lambda: count(conn, done, "COMPLETED") == len(done),
                30,
                "every acknowledged task completed\n"
                + "\n".join(worker.log() for worker in workers.values()),
                interval=0.2,
            )
            # each ran once: a claim or an outcome whose answer was lost with the old primary
            # was taken up again, not left for its lease to run out
            attempts = conn.execute(
                "SELECT max(attempts) FROM taskq.tasks WHERE id = ANY(%s)", (done,)
            ).fetchone()
            assert attempts == (1,)
            served = conn.execute(
                "SELECT count(DISTINCT worker_id) FROM taskq.tasks WHERE id = ANY(%s)", (done,)
            ).fetchone()
            assert served == (2,)
        for kind, api in apis.items():
            assert api.process.poll() is None, api.output()
            assert workers[kind].process.poll() is None, workers[kind].log()
            workers[kind].signal(signal.SIGTERM)
            assert workers[kind].wait(30) == 0, workers[kind].log()

    assert len(set(done)) == len(done)
    for kind, producer in producers.items():
        # during the switch the API answers 503 with a retry hint, never 500
        assert all(status == 503 for status, _ in producer.refused), (kind, producer.refused)
        assert "Traceback" not in apis[kind].output(), apis[kind].output()
        log = workers[kind].log()
        assert "Traceback" not in log, log
        assert "crashed" not in log, log
    assert "target_session_attrs=any" in workers["any"].log()
