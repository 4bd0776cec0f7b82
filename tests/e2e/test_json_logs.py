"""``--log-format json`` / ``TASKQ_LOG_FORMAT=json``: every line a process logs is one JSON
object, and a worker's lines of a task carry the task's id, name, attempt and worker, the line
of its outcome its duration."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.test_cli import TASKQ, api_log_of_one_request
from tests.e2e.test_run import clean_env
from tests.worker.helpers import WorkerProcess, enqueue, status_of, wait_until

KEYS = {"time", "level", "logger", "message"}


def parsed(text: str) -> list[dict[str, Any]]:
    """Each line as JSON; a line that is not one object fails the test, naming it."""
    lines = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssertionError(f"not JSON: {line!r} ({error})") from None
        assert isinstance(record, dict), line
        assert record.keys() >= KEYS, line
        assert record["time"].endswith("Z"), line
        lines.append(record)
    assert lines, "nothing was logged"
    return lines


def test_a_worker_logs_its_tasks_as_json(database_url: str, tmp_path: Path) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        added = enqueue(conn, "tests.add", {"a": 1, "b": 2})
        failed = enqueue(conn, "tests.boom", max_attempts=1)
        with WorkerProcess(
            database_url,
            tmp_path / "worker.log",
            "--import",
            "tests.worker.handlers",
            env={"TASKQ_LOG_FORMAT": "json"},
        ) as worker:
            worker_id = worker.wait_ready(conn)
            wait_until(
                lambda: (
                    status_of(conn, added) == "COMPLETED" and status_of(conn, failed) == "FAILED"
                ),
                30,
                "both tasks finished",
            )
            worker.signal(signal.SIGTERM)
            assert worker.wait(30) == 0, worker.log()
            records = parsed(worker.log())
    by_task: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if "task_id" in record:
            by_task.setdefault(record["task_id"], []).append(record)
    for task_id, name, level, says in (
        (added, "tests.add", "INFO", "completed in"),
        (failed, "tests.boom", "ERROR", "failed in"),
    ):
        lines = by_task[str(task_id)]
        for line in lines:
            assert line["task_name"] == name, line
            assert line["attempt"] == 1, line
            assert line["worker"] == str(worker_id), line
            assert line["logger"] == "taskq.worker", line
        (finish,) = [line for line in lines if says in line["message"]]
        assert finish["level"] == level
        assert isinstance(finish["duration"], float)
        assert 0 <= finish["duration"] < 30
        assert f"{finish['duration']:.3f}s" in finish["message"]
        assert any("started" in line["message"] and "duration" not in line for line in lines)
    assert any("ready" in record["message"] for record in records)


def test_the_api_logs_json_lines(database_url: str, tmp_path: Path) -> None:
    lines = api_log_of_one_request(database_url, tmp_path / "api.log", "--log-format", "json")
    records = parsed("\n".join(lines))
    assert any(r["logger"].startswith("uvicorn") for r in records), records
    assert any('"GET /health HTTP/1.1" 200' in r["message"] for r in records), records


@pytest.mark.parametrize("command", ["worker", "api", "run"])
def test_a_bad_log_format_is_a_usage_error(command: str) -> None:
    result = subprocess.run(
        [TASKQ, command, "--log-format", "xml"],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "argument --log-format: invalid choice: 'xml'" in result.stderr


def test_a_bad_log_format_variable_is_one_line() -> None:
    result = subprocess.run(
        [TASKQ, "worker"],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(TASKQ_LOG_FORMAT="xml"),
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "taskq: TASKQ_LOG_FORMAT must be text or json, not 'xml'"
    ]
