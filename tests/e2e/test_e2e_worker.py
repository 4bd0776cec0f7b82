"""Worker processes end to end against a real PostgreSQL: the slot limit across processes,
kill -9 mid-task, SIGTERM mid-task, and a database restart under load."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.conftest import FAST_SETTINGS, PgServer
from tests.worker.helpers import (
    SyncConnection,
    WorkerProcess,
    count_running,
    enqueue,
    statuses,
    task_row,
    wait_until,
)


@contextmanager
def workers(
    database_url: str, conn: SyncConnection, tmp_path: Path, count: int, *args: str
) -> Iterator[list[WorkerProcess]]:
    """``count`` worker processes, registered when yielded, killed on the way out."""
    with ExitStack() as stack:
        started = [
            stack.enter_context(WorkerProcess(database_url, tmp_path / f"worker{i}.log", *args))
            for i in range(count)
        ]
        for process in started:
            process.wait_ready(conn)
        yield started


def logs(processes: list[WorkerProcess]) -> str:
    return "\n".join(f"--- worker {p.pid}\n{p.log()}" for p in processes)


def test_three_workers_never_run_more_than_the_queue_slots(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with workers(database_url, conn, tmp_path, 3) as processes:
        ids = [enqueue(conn, "sleep", {"seconds": 0.25}) for _ in range(20)]
        peak = 0
        samples = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = count_running(conn)  # one snapshot: the count at one instant
            peak = max(peak, running)
            samples += 1
            if statuses(conn, ids).get("COMPLETED") == len(ids):
                break
            time.sleep(0.005)
        final = statuses(conn, ids)
        assert final == {"COMPLETED": 20}, logs(processes)
    assert samples > 50
    assert peak == 2, f"peak of RUNNING tasks {peak}; the default queue has 2 slots"
    row = conn.execute(
        "SELECT count(*), max(attempts) FROM taskq.tasks WHERE id = ANY(%s)", (ids,)
    ).fetchone()
    assert row == (20, 1)


def test_kill_9_mid_task_the_task_is_rerun_after_its_lease(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with workers(database_url, conn, tmp_path, 2, "--lease", "2", "--poll", "0.5") as processes:
        task_id = enqueue(conn, "sleep", {"seconds": 1.0})
        holder_id = wait_until(
            lambda: task_row(conn, task_id)["worker_id"], 10, "the task was claimed"
        )
        holder = next(p for p in processes if p.worker_id(conn) == holder_id)
        other = next(p for p in processes if p is not holder)
        os.kill(holder.pid, signal.SIGKILL)
        holder.process.wait(10)
        held = task_row(conn, task_id)
        assert held["status"] == "RUNNING"  # nobody hands it back: its worker is dead
        lease_end = held["lease_expires_at"]

        def done() -> dict[str, Any] | None:
            row = task_row(conn, task_id)
            return row if row["status"] == "COMPLETED" else None

        final = wait_until(done, 20, f"the task completed elsewhere\n{logs(processes)}")
        assert final["worker_id"] == other.worker_id(conn)
        assert final["attempts"] == 2  # the lost attempt counts
        assert final["started_at"] >= lease_end  # re-run only after the lease ran out
        assert "lease expired" in final["errors"][0]["error"]
        running = conn.execute("SELECT count(*) FROM taskq.tasks WHERE status = 'RUNNING'")
        assert running.fetchone() == (0,)


def test_sigterm_mid_task_lets_it_finish_within_the_grace(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with WorkerProcess(database_url, tmp_path / "w.log", "--grace", "20") as process:
        process.wait_ready(conn)
        task_id = enqueue(conn, "sleep", {"seconds": 1.5})
        wait_until(lambda: task_row(conn, task_id)["status"] == "RUNNING", 10, "claimed")
        process.signal(signal.SIGTERM)
        # the claim loop has ended once the worker waits for its running task
        wait_until(lambda: "waiting up to 20s for 1 running task(s)" in process.log(), 10, "drain")
        late = enqueue(conn, "echo")  # enqueued after SIGTERM: not claimed any more
        assert process.wait(20) == 0
    final = task_row(conn, task_id)
    assert final["status"] == "COMPLETED"
    assert final["attempts"] == 1
    assert task_row(conn, late)["status"] == "QUEUED"
    assert task_row(conn, late)["attempts"] == 0


def test_sigterm_mid_task_hands_it_back_after_the_grace(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with WorkerProcess(database_url, tmp_path / "first.log", "--grace", "0.5") as first:
        first.wait_ready(conn)
        task_id = enqueue(conn, "sleep", {"seconds": 2})
        wait_until(lambda: task_row(conn, task_id)["status"] == "RUNNING", 10, "claimed")
        first.signal(signal.SIGTERM)
        started = time.monotonic()
        assert first.wait(15) == 0
        assert time.monotonic() - started < 10
        assert "handing it back" in first.log()
    back = task_row(conn, task_id)
    assert back["status"] == "QUEUED"
    assert back["attempts"] == 0  # the interrupted attempt is not wasted
    with WorkerProcess(database_url, tmp_path / "second.log") as second:
        second.wait_ready(conn)
        wait_until(lambda: task_row(conn, task_id)["status"] == "COMPLETED", 15, "re-run")
    assert task_row(conn, task_id)["attempts"] == 1


def test_a_database_restart_under_load_loses_nothing(
    pg_server: PgServer, database_url: str, tmp_path: Path
) -> None:
    if pg_server.local is None:
        pytest.skip("needs a local PostgreSQL server that the test can restart")
    server = pg_server.local

    def read(query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """A fresh connection per read: the server restarts in the middle of the test."""
        try:
            with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as fresh:
                return fresh.execute(query, params).fetchone()
        except psycopg.OperationalError:
            return None

    def count(status: str, ids: list[UUID]) -> int:
        row = read(
            "SELECT count(*) FROM taskq.tasks WHERE status = %s AND id = ANY(%s)", (status, ids)
        )
        return -1 if row is None else int(row[0])

    with ExitStack() as stack:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT taskq.set_concurrency('default', 4)")
            processes = [
                stack.enter_context(WorkerProcess(database_url, tmp_path / f"w{i}.log"))
                for i in range(3)
            ]
            for process in processes:
                process.wait_ready(conn)
            ids = [enqueue(conn, "sleep", {"seconds": 0.5}) for _ in range(40)]
            wait_until(lambda: count("COMPLETED", ids) >= 6, 30, "six tasks done")
            wait_until(lambda: count_running(conn) >= 3, 10, "tasks running")
        server.restart("fast", settings=FAST_SETTINGS)

        wait_until(
            lambda: count("COMPLETED", ids) == len(ids),
            90,
            f"every task COMPLETED after the restart\n{logs(processes)}",
            interval=0.2,
        )
        assert all(p.process.poll() is None for p in processes), logs(processes)
        assert count("RUNNING", ids) == 0
        # tasks were running across the restart, and their workers completed them afterwards
        spanning = read(
            "SELECT count(*) FROM taskq.tasks"
            " WHERE started_at < pg_postmaster_start_time()"
            " AND finished_at > pg_postmaster_start_time()"
        )
        assert spanning is not None
        assert spanning[0] >= 1
        assert "LISTEN connection re-established" in logs(processes)
        for process in processes:
            process.signal(signal.SIGTERM)
        for process in processes:
            assert process.wait(30) == 0, process.log()
