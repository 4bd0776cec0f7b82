"""``taskq worker`` as a real process: --help, --import, --any-name, logs, signals."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

from cli import worker as worker_command
from cli.options import GC_FIRST_THRESHOLD, run_on_event_loop
from taskq.pgserver import free_port
from taskq.settings import ConfigError, event_loop_setting
from tests.worker.helpers import (
    REPO,
    SyncConnection,
    WorkerProcess,
    enqueue,
    status_of,
    task_row,
    wait_until,
)


def finished(conn: SyncConnection, task_id: object, within: float = 15) -> dict[str, object]:
    def probe() -> dict[str, object] | None:
        row = task_row(conn, task_id)  # type: ignore[arg-type]
        return row if row["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    return wait_until(probe, within, f"task {task_id} finished")


def test_help_documents_every_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "worker", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parser = argparse.ArgumentParser()
    worker_command.add_arguments(parser)
    flags = [
        action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]
    assert len(flags) >= 10
    for action in flags:
        assert action.help, f"{action.option_strings} has no help text"
        for option in action.option_strings:
            assert re.search(rf"(^|[\s,]){re.escape(option)}\b", result.stdout), option
    for needed in ("--queue", "--concurrency", "--import", "--any-name", "--grace"):
        assert needed in result.stdout
    assert "sleep" in result.stdout
    assert "SIGTERM" in result.stdout


def test_bad_flags_and_imports_exit_2(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "cli", "worker", "--concurrency", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "must be at least 1" in bad.stderr
    with WorkerProcess(
        "postgresql://127.0.0.1:1/none", tmp_path / "w.log", "--import", "no_such_module_here"
    ) as process:
        assert process.wait(30) == 2
        assert "cannot import handlers" in process.log()
        assert "no_such_module_here" in process.log()


def test_imported_handlers_run_and_every_task_is_logged(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with WorkerProcess(
        database_url, tmp_path / "w.log", "--import", "tests.worker.handlers", "--concurrency", "2"
    ) as process:
        process.wait_ready(conn)
        added = enqueue(conn, "tests.add", {"a": 20, "b": 22})
        threaded = enqueue(conn, "tests.thread")
        boom = enqueue(conn, "tests.boom", max_attempts=1)
        assert finished(conn, added)["result"] == {"sum": 42, "attempt": 1}
        row = finished(conn, threaded)
        assert row["status"] == "COMPLETED"
        assert isinstance(row["result"], dict)
        assert row["result"]["task_id"] == str(threaded)
        assert row["result"]["thread"] != "MainThread"
        failed = finished(conn, boom)
        assert failed["status"] == "FAILED"
        assert str(failed["last_error"]).startswith("ValueError: boom on attempt 1")
        process.signal(signal.SIGINT)
        assert process.wait(30) == 0
        log = process.log()
    # one line per start and per end, with id, name, attempt and duration
    for task_id, name in ((added, "tests.add"), (threaded, "tests.thread")):
        assert re.search(rf"task {task_id} '{name}' attempt 1/3 started", log), log
        assert re.search(rf"task {task_id} '{name}' attempt 1/3 completed in \d+\.\d+s", log), log
    assert re.search(
        rf"task {boom} 'tests.boom' attempt 1/1 failed in \d+\.\d+s: ValueError: boom on attempt 1;"
        " now FAILED",
        log,
    ), log
    assert "SIGINT received" in log
    assert "unregistered worker" in log


def test_a_worker_leaves_other_names_to_other_workers_unless_any_name(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    unknown = enqueue(conn, "tests.nobody_handles_this", max_attempts=1)
    known = enqueue(conn, "echo", {"n": 1})
    with WorkerProcess(database_url, tmp_path / "picky.log") as picky:
        picky.wait_ready(conn)
        assert finished(conn, known)["status"] == "COMPLETED"
        # the picky worker has claimed and re-claimed since (a NOTIFY, then an idle loop)
        enqueue(conn, "echo")
        wait_until(
            lambda: conn.execute(
                "SELECT count(*) = 2 FROM taskq.tasks WHERE status = 'COMPLETED'"
            ).fetchone()[0],  # type: ignore[index]
            15,
            "the second echo ran",
        )
        row = task_row(conn, unknown)
        assert row["status"] == "QUEUED"
        assert row["attempts"] == 0
        assert "only the names of its handlers" in picky.log()
    with WorkerProcess(database_url, tmp_path / "any.log", "--any-name") as anyone:
        anyone.wait_ready(conn)
        failed = finished(conn, unknown)
        assert "any task name" in anyone.log()
    assert failed["status"] == "FAILED"
    assert failed["last_error"] == "no handler registered for 'tests.nobody_handles_this'"


def test_sigterm_on_an_idle_worker_exits_0_and_unregisters(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with WorkerProcess(database_url, tmp_path / "w.log", "--queue", "q1", "--queue", "q2") as w:
        worker_id = w.wait_ready(conn)
        row = conn.execute(
            "SELECT queues FROM taskq.workers WHERE id = %s", (worker_id,)
        ).fetchone()
        assert row is not None
        assert row[0] == ["q1", "q2"]
        in_q2 = enqueue(conn, "echo", queue="q2")
        assert finished(conn, in_q2)["status"] == "COMPLETED"
        w.signal(signal.SIGTERM)
        assert w.wait(20) == 0
    assert w.worker_id(conn) is None
    assert status_of(conn, in_q2) == "COMPLETED"


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+\[\d+\]: \S")


def signalled_twice(
    database_url: str, conn: SyncConnection, log_path: Path, seconds: float, signum: signal.Signals
) -> tuple[dict[str, object], str]:
    """A worker (60 s of grace) running a sleep task is sent ``signum`` twice; it exits 0.
    The task's row and the worker's log, after."""
    with WorkerProcess(database_url, log_path, "--grace", "60") as w:
        w.wait_ready(conn)
        slow = enqueue(conn, "sleep", {"seconds": seconds})
        wait_until(lambda: status_of(conn, slow) == "RUNNING", 15, "the sleep task started")
        w.signal(signum)
        time.sleep(0.3)
        w.signal(signum)
        assert w.wait(30) == 0
        return task_row(conn, slow), w.log()


def test_a_repeated_sigterm_lets_running_tasks_finish(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    row, log = signalled_twice(database_url, conn, tmp_path / "w.log", 2, signal.SIGTERM)
    assert (row["status"], row["attempts"]) == ("COMPLETED", 1), log
    assert "SIGTERM received again: already stopping" in log
    assert "cancelling" not in log
    assert "Traceback" not in log
    assert all(LOG_LINE.match(line) for line in log.splitlines()), log


def test_a_second_sigint_hands_running_tasks_back_at_once(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    row, log = signalled_twice(database_url, conn, tmp_path / "w.log", 60, signal.SIGINT)
    assert (row["status"], row["attempts"]) == ("QUEUED", 0), log
    assert "cancelling 1 task(s) still running" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("change", [{"user": "no_such_role"}, {"dbname": "no_such_database"}])
def test_a_refused_login_at_start_is_one_line_and_exit_2(
    database_url: str, tmp_path: Path, change: dict[str, str]
) -> None:
    url = make_conninfo(database_url, **change)
    with WorkerProcess(url, tmp_path / "w.log") as w:
        assert w.wait(30) == 2
        lines = w.log().splitlines()
    assert len(lines) == 1, lines
    assert "the database from TASKQ_DATABASE_URL refuses taskq: " in lines[0]
    assert change.popitem()[1] in lines[0]


def test_a_database_that_does_not_answer_is_waited_for(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/taskq"
    with WorkerProcess(url, tmp_path / "w.log") as w:
        wait_until(lambda: "cannot register" in w.log(), 30, "the worker retried")
        assert w.process.poll() is None
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0
        log = w.log()
    assert "does not answer (Connection refused); waiting for it" in log


@pytest.mark.parametrize(
    ("setting", "loop"),
    [(None, "uvloop.Loop"), ("uvloop", "uvloop.Loop"), (" ASYNCIO ", "asyncio.unix_events")],
)
def test_the_worker_runs_on_the_event_loop_taskq_event_loop_names(
    database_url: str, conn: SyncConnection, tmp_path: Path, setting: str | None, loop: str
) -> None:
    """uvloop by default; either loop runs coroutine and thread handlers, fails a task whose
    handler raises, and stops on SIGTERM with exit 0."""
    env = {} if setting is None else {"TASKQ_EVENT_LOOP": setting}
    with WorkerProcess(
        database_url, tmp_path / "w.log", "--import", "tests.worker.handlers", env=env
    ) as process:
        process.wait_ready(conn)
        ran_on = finished(conn, enqueue(conn, "tests.event_loop"))["result"]
        added = finished(conn, enqueue(conn, "tests.add", {"a": 1, "b": 2}))["result"]
        threaded = finished(conn, enqueue(conn, "tests.thread"))
        boom = finished(conn, enqueue(conn, "tests.boom", max_attempts=1))
        process.signal(signal.SIGTERM)
        assert process.wait(30) == 0
        log = process.log()
    assert isinstance(ran_on, dict)
    assert str(ran_on["loop"]).startswith(loop), ran_on
    assert added == {"sum": 3, "attempt": 1}
    assert threaded["status"] == "COMPLETED"
    assert (boom["status"], str(boom["last_error"])[:10]) == ("FAILED", "ValueError")
    assert "unregistered worker" in log
    assert "Traceback" not in log


def test_taskq_event_loop_is_read_and_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def loop_class() -> str:
        return type(asyncio.get_running_loop()).__module__

    for value, chosen, module in (
        (None, "uvloop", "uvloop"),
        (" Auto ", "uvloop", "uvloop"),
        ("uvloop", "uvloop", "uvloop"),
        ("asyncio", "asyncio", "asyncio.unix_events"),
    ):
        if value is None:
            monkeypatch.delenv("TASKQ_EVENT_LOOP", raising=False)
        else:
            monkeypatch.setenv("TASKQ_EVENT_LOOP", value)
        assert event_loop_setting() == chosen
        assert run_on_event_loop(loop_class()) == module
    monkeypatch.setenv("TASKQ_EVENT_LOOP", "tokio")
    with pytest.raises(ConfigError, match="must be auto, uvloop or asyncio, not 'tokio'"):
        event_loop_setting()
    # where uvloop is not installed (Windows): auto is asyncio's loop, uvloop a refusal
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "uvloop" else find_spec(name, *rest),
    )
    monkeypatch.setenv("TASKQ_EVENT_LOOP", "auto")
    assert event_loop_setting() == "asyncio"
    monkeypatch.setenv("TASKQ_EVENT_LOOP", "uvloop")
    with pytest.raises(
        ConfigError, match="TASKQ_EVENT_LOOP is uvloop, but uvloop is not installed"
    ):
        event_loop_setting()


def test_the_worker_process_tunes_its_garbage_collector(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with WorkerProcess(
        database_url, tmp_path / "w.log", "--import", "tests.worker.handlers"
    ) as process:
        process.wait_ready(conn)
        result = finished(conn, enqueue(conn, "tests.collector"))["result"]
    assert isinstance(result, dict)
    assert result["threshold"][0] == GC_FIRST_THRESHOLD
    assert result["frozen"] > 1000, "the objects of the started process are frozen"
