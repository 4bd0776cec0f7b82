"""The taskq CLI: each subcommand against a real database, tables for people, JSON for
scripts, and one clear line (exit 1) for every error a person can cause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from taskq.cli import main

TASKQ = str(Path(sys.executable).parent / "taskq")


@pytest.fixture
def cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    monkeypatch.setenv("TASKQ_DATABASE_URL", database_url)

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_enqueue_status_and_ls(cli: Any) -> None:
    code, out, _ = cli(
        "enqueue", "send_email", "--payload", '{"to": "a@example.com"}', "--priority", "HIGH"
    )
    assert code == 0
    task_id = out.strip()
    code, out, _ = cli("status", task_id)
    assert code == 0
    assert "send_email" in out
    assert "QUEUED" in out
    assert '"to": "a@example.com"' in out
    code, out, _ = cli("status", task_id, "--json")
    assert json.loads(out)["priority"] == "HIGH"
    cli(
        "enqueue",
        "later",
        "--at",
        "2030-01-01T10:00:00",
        "--queue",
        "reports",
        "--max-attempts",
        "5",
    )
    code, out, _ = cli("ls", "--json")
    page = json.loads(out)
    assert [t["name"] for t in page["items"]] == ["later", "send_email"]
    assert page["items"][0]["scheduled_at"].startswith("2030-01-01T10:00:00")
    assert page["items"][0]["max_attempts"] == 5
    code, out, _ = cli("ls", "--queue", "reports")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "QUEUE"]
    assert len(lines) == 2
    assert "later" in lines[1]


def test_ls_pages(cli: Any) -> None:
    for i in range(5):
        cli("enqueue", f"t{i}")
    code, out, _ = cli("ls", "--limit", "2")
    assert code == 0
    assert "more: taskq ls --after" in out
    after = out.split("--after ")[1].strip().rstrip(")")
    _, out, _ = cli("ls", "--limit", "2", "--after", after, "--json")
    assert [t["name"] for t in json.loads(out)["items"]] == ["t2", "t1"]


def test_ls_leaves_payload_and_result_out_unless_included(cli: Any) -> None:
    cli("enqueue", "big", "--payload", '{"blob": "' + "z" * 500 + '"}')
    _, out, _ = cli("ls", "--json")
    [task] = json.loads(out)["items"]
    assert task["name"] == "big"
    assert "payload" not in task
    assert "result" not in task
    _, out, _ = cli("ls", "--json", "--include", "payload,result")
    [task] = json.loads(out)["items"]
    assert task["payload"] == {"blob": "z" * 500}
    assert task["result"] is None
    _, out, _ = cli("ls", "--include", "payload")
    header, row = out.splitlines()
    assert header.split()[-1] == "PAYLOAD"
    assert row.endswith('{"blob": "' + "z" * 500 + '"}')
    code, _, err = cli("ls", "--include", "errors")
    assert code == 1
    assert "--include takes payload, result or payload,result, not 'errors'" in err


def test_transitions(cli: Any) -> None:
    _, out, _ = cli("enqueue", "x")
    task_id = out.strip()
    assert cli("pause", task_id)[1].strip() == f"task {task_id} is PAUSED"
    assert cli("resume", task_id)[1].strip() == f"task {task_id} is QUEUED"
    assert cli("cancel", task_id)[1].strip() == f"task {task_id} is CANCELLED"
    assert cli("retry", task_id)[1].strip() == f"task {task_id} is QUEUED"
    code, out, err = cli("retry", task_id)
    assert code == 1
    assert out == ""
    assert (
        err.strip()
        == f"taskq: task {task_id} is QUEUED; only FAILED or CANCELLED tasks can be retried"
    )


def test_queues(cli: Any) -> None:
    cli("enqueue", "x", "--queue", "mail")
    code, out, _ = cli("queue", "mail", "--concurrency", "5", "--pause")
    assert code == 0
    code, out, _ = cli("queues", "--json")
    [mail] = [q for q in json.loads(out) if q["queue"] == "mail"]
    assert (mail["concurrency"], mail["paused"], mail["queued"]) == (5, True, 1)
    cli("queue", "mail", "--unlimited", "--resume")
    code, out, _ = cli("queues")
    row = next(line for line in out.splitlines() if line.startswith("mail"))
    assert row.split()[1:3] == ["-", "no"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "not-a-uuid"], "'not-a-uuid' is not a task id"),
        (["status", "00000000-0000-7000-8000-000000000000"], "does not exist"),
        (["enqueue", "x", "--payload", "{oops"], "--payload is not JSON"),
        (["enqueue", "x", "--payload", "[1]"], "--payload must be a JSON object"),
        (["enqueue", "x", "--at", "someday"], "--at 'someday' is not a time"),
        (["enqueue", "x", "--max-attempts", "0"], "max_attempts must be at least 1"),
        (["enqueue", ""], "name must not be empty"),
        (["queue", "mail", "--concurrency", "0"], "concurrency must be between 1 and 10000"),
        (["queue", "mail"], "say what to change"),
        (["ls", "--limit", "0"], "--limit must be between 1 and 500"),
    ],
)
def test_errors_are_one_line(cli: Any, args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert code == 1
    assert out == ""
    assert err.startswith("taskq: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_migrate_status_and_psql(cli: Any, database_url: str) -> None:
    code, out, _ = cli("migrate", "status")
    assert code == 0
    assert "Nothing to deploy (up-to-date)" in out
    result = subprocess.run(
        [
            TASKQ,
            "psql",
            "--database-url",
            database_url,
            "--",
            "-At",
            "-c",
            "SELECT count(*) FROM taskq.queues",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_schema_not_deployed(empty_database_url: str) -> None:
    result = subprocess.run(
        [TASKQ, "ls", "--database-url", empty_database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "taskq: the taskq schema is not deployed in this database: run `taskq migrate`"
    )


def test_unreachable_database_from_a_subprocess() -> None:
    result = subprocess.run(
        [TASKQ, "queues", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("taskq: cannot connect to the database at 127.0.0.1:1/nowhere")
    assert "Traceback" not in result.stderr


def test_every_subcommand_has_help() -> None:
    commands = ["run", "api", "worker", "migrate", "psql", "enqueue", "status", "ls"]
    commands += ["pause", "resume", "cancel", "retry", "queues", "queue"]
    for command in commands:
        result = subprocess.run(
            [TASKQ, command, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"usage: taskq {command}")
