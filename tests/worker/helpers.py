"""Helpers of the worker tests: bounded waits, worker processes, in-process workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

import psycopg

from taskq.client import Claimed, Task
from worker import Registry, TaskContext, Worker
from worker.outcomes import Running

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
SyncConnection = psycopg.Connection[tuple[Any, ...]]


def wait_until(
    probe: Callable[[], T | None], timeout: float, message: str, interval: float = 0.02
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}")
        time.sleep(interval)


async def await_until(
    probe: Callable[[], Awaitable[T | None]], within: float, message: str, interval: float = 0.02
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s: {message}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running_worker(database_url: str, **options: Any) -> AsyncIterator[Worker]:
    """A Worker running in this event loop, ready (listening and registered) when yielded;
    stopped (with its grace period) on the way out."""
    worker = Worker(database_url, **options)
    job = asyncio.create_task(worker.run())
    ready = asyncio.create_task(worker.ready.wait())
    try:
        await asyncio.wait({job, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if job.done():
            job.result()  # raises what made it stop
            raise AssertionError("the worker stopped before it was ready")
        assert worker.ready.is_set(), "the worker was not ready within 15 s"
        yield worker
    finally:
        ready.cancel()
        worker.stop()
        await asyncio.wait_for(job, timeout=worker.grace + 20)


def gated_registry(gate: asyncio.Event) -> Registry:
    """A registry whose handler ``gated`` returns ``"done"`` once ``gate`` is set."""
    registry = Registry()

    @registry.task("gated")
    async def gated(payload: dict[str, Any], ctx: TaskContext) -> str:
        await gate.wait()
        return "done"

    return registry


# --- statuses, read with a plain connection ------------------------------------------------
def task_row(conn: SyncConnection, task_id: UUID) -> dict[str, Any]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    row = cur.execute("SELECT * FROM taskq.task_info WHERE id = %s", (task_id,)).fetchone()
    assert row is not None, f"no task {task_id}"
    return row


def status_of(conn: SyncConnection, task_id: UUID) -> str:
    return str(task_row(conn, task_id)["status"])


def enqueue(
    conn: SyncConnection, name: str, payload: dict[str, Any] | None = None, **more: Any
) -> UUID:
    """taskq.enqueue with named arguments, from a test."""
    from psycopg.types.json import Jsonb

    args = {"name": name, "payload": Jsonb(payload or {}), **more}
    named = ", ".join(f"{key} => %({key})s" for key in args)
    row = conn.execute(f"SELECT taskq.enqueue({named})", args).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def count_running(conn: SyncConnection, queue: str = "default") -> int:
    row = conn.execute(
        "SELECT count(*) FROM taskq.tasks WHERE status = 'RUNNING' AND queue = %s", (queue,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def statuses(conn: SyncConnection, ids: Sequence[UUID]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status::text, count(*) FROM taskq.tasks WHERE id = ANY(%s) GROUP BY 1", (list(ids),)
    ).fetchall()
    return {str(status): int(count) for status, count in rows}


# --- worker processes -------------------------------------------------------------------------
class WorkerProcess:
    """``taskq worker`` in a process of its own, its stderr in a file. Use it as a context
    manager: the process is killed on the way out whatever happened."""

    def __init__(
        self, database_url: str, log_path: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = log_path
        unset = {"DATABASE_URL", "TASKQ_LISTEN_URL", "TASKQ_PREPARE", "TASKQ_EVENT_LOOP"}
        env = {
            **{key: value for key, value in os.environ.items() if key not in unset},
            "TASKQ_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def worker_id(self, conn: SyncConnection) -> UUID | None:
        row = conn.execute("SELECT id FROM taskq.workers WHERE pid = %s", (self.pid,)).fetchone()
        return None if row is None else UUID(str(row[0]))

    def wait_ready(self, conn: SyncConnection, timeout: float = 20) -> UUID:
        """Until the worker is registered (it LISTENs before it registers)."""

        def probe() -> UUID | None:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            return self.worker_id(conn)

        return wait_until(probe, timeout, f"worker {self.pid} registered\n{self.log()}")

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            raise AssertionError(
                f"worker {self.pid} still running after {timeout}s:\n{self.log()}"
            ) from error

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.kill()
        self._log.close()


def held_entry(task: Task) -> Running:
    """A claimed task as the worker holds it, its context made from the row."""
    assert task.worker_id is not None
    context = TaskContext(
        task_id=task.id,
        name=task.name,
        queue=task.queue,
        attempt=task.attempts,
        max_attempts=task.max_attempts,
        payload=task.payload,
        worker_id=task.worker_id,
    )
    return Running(Claimed.of(task), context, time.monotonic())
