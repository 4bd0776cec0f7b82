"""The taskq CLI: each subcommand against a real database, tables for people, JSON for
scripts, and one clear line for every error a person can cause, with an exit status by its
class: 2 a bad argument, 3 no such task or queue, 4 a status that does not allow it, 5 no schema,
1 anything else."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cli.main import build_parser
from taskq.pgserver import LocalServer, embedded_bin_dir, free_port
from tests.conftest import PgServer
from tests.e2e.test_run import clean_env

TASKQ = str(Path(sys.executable).parent / "taskq")


def test_status_shows_the_progress(cli: Any, database_url: str) -> None:
    code, out, _ = cli("enqueue", "import_rows")
    task_id = out.strip()
    with psycopg.connect(database_url, autocommit=True) as conn:
        worker = conn.execute("SELECT taskq.register_worker('cli-test')").fetchone()
        assert worker is not None
        claimed = conn.execute("SELECT lease_token FROM taskq.claim(%s)", worker).fetchone()
        assert claimed is not None
        conn.execute("SELECT taskq.report_progress(%s, %s, '{\"done\": 3}')", (task_id, claimed[0]))
    code, out, _ = cli("status", task_id)
    assert code == 0
    assert re.search(r'^progress +\{"done": 3\}$', out, re.M), out
    assert re.search(r"^progress_at +\d{4}-", out, re.M), out


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


def test_enqueue_takes_the_task_options(cli: Any) -> None:
    options = ["--unique-key", "report:7", "--unique-for", "10m", "--concurrency-key", "acme"]
    code, out, _ = cli("enqueue", "report", *options, "--timeout", "30s")
    assert code == 0
    first = out.strip()
    code, out, _ = cli("status", first, "--json")
    task = json.loads(out)
    assert (task["unique_key"], task["concurrency_key"]) == ("report:7", "acme")
    # the same key while the task is live: the same task, not a second one
    code, out, _ = cli("enqueue", "report", "--unique-key", "report:7")
    assert (code, out.strip()) == (0, first)
    code, _, err = cli("enqueue", "report", "--timeout", "soon")
    assert code == 2
    assert "--timeout 'soon' is not a duration" in err
    code, _, err = cli("enqueue", "report", "--timeout", "0s")
    assert code == 2
    assert "timeout" in err


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
    assert code == 2
    assert "--include takes payload, result or payload,result, not 'errors'" in err


def test_transitions(cli: Any) -> None:
    _, out, _ = cli("enqueue", "x")
    task_id = out.strip()
    assert cli("pause", task_id)[1].strip() == f"task {task_id} is PAUSED"
    assert cli("resume", task_id)[1].strip() == f"task {task_id} is QUEUED"
    assert cli("cancel", task_id)[1].strip() == f"task {task_id} is CANCELLED"
    assert cli("retry", task_id)[1].strip() == f"task {task_id} is QUEUED"
    code, out, err = cli("retry", task_id)
    assert code == 4
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
    ("args", "status", "message"),
    [
        (["status", "not-a-uuid"], 2, "'not-a-uuid' is not a task id"),
        (["status", "00000000-0000-7000-8000-000000000000"], 3, "does not exist"),
        (["enqueue", "x", "--payload", "{oops"], 2, "--payload is not JSON"),
        (["enqueue", "x", "--payload", "[1]"], 2, "--payload must be a JSON object"),
        (["enqueue", "x", "--at", "someday"], 2, "--at 'someday' is not a time"),
        (["enqueue", "x", "--max-attempts", "0"], 2, "max_attempts must be at least 1"),
        (["enqueue", ""], 2, "name must not be empty"),
        (["queue", "mail", "--concurrency", "0"], 2, "concurrency must be between 1 and 10000"),
        (["queue", "mail"], 2, "say what to change"),
        (["ls", "--limit", "0"], 2, "--limit must be between 1 and 1000"),
    ],
)
def test_errors_are_one_line(cli: Any, args: list[str], status: int, message: str) -> None:
    code, out, err = cli(*args)
    assert code == status
    assert out == ""
    assert err.startswith("taskq: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_prune(cli: Any, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT taskq.set_retention('default', failed => '1 hour')")
        conn.execute(
            "INSERT INTO taskq.tasks (queue, name, status, finished_at) SELECT 'default', 'job',"
            " s.status::taskq.status, clock_timestamp() - interval '8 days'"
            " FROM unnest(ARRAY['COMPLETED', 'COMPLETED', 'COMPLETED', 'FAILED']) AS s (status)"
        )
        conn.execute("SELECT taskq.enqueue('live')")
    code, out, _ = cli("prune", "--batch", "1", "--once")
    assert (code, out.strip()) == (
        0,
        "pruned 1 completed, 0 failed and 0 cancelled task(s) and 0 audit row(s) past their "
        "queue's retention",
    )
    code, out, _ = cli("prune", "--batch", "2", "--json", "--reason", "disk", "--actor", "ops")
    assert code == 0
    assert json.loads(out) == {"completed": 2, "failed": 1, "cancelled": 0, "audit_rows": 0}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT name FROM taskq.tasks").fetchall() == [("live",)]
        # one audit row per batch: the --once call's, then a full batch and the last one
        assert conn.execute(
            "SELECT actor, reason, after->>'completed' FROM taskq.audit"
            " WHERE action = 'prune' ORDER BY id"
        ).fetchall() == [(None, None, "1"), ("ops", "disk", "2"), ("ops", "disk", "0")]
    code, _, err = cli("prune", "--batch", "0")
    assert code == 2
    assert "batch must be between 1 and 1000000, not 0" in err


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
    assert result.returncode == 5
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
    commands += ["pause", "resume", "cancel", "retry", "queues", "queue", "audit", "prune"]
    commands += ["workers", "top"]
    for command in commands:
        result = subprocess.run(
            [TASKQ, command, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"usage: taskq {command}")


def test_version() -> None:
    result = subprocess.run([TASKQ, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"taskq {version('taskq')}"


def test_psql_passes_its_arguments_through(database_url: str) -> None:
    result = subprocess.run(
        [TASKQ, "psql", "--database-url", database_url, "-At", "-c", "SELECT 40 + 2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_payload_from_a_file_and_from_stdin(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = {"rows": ["x" * 1000] * 1000}
    (tmp_path / "payload.json").write_text(json.dumps(big))
    code, out, err = cli("enqueue", "echo", "--payload", f"@{tmp_path / 'payload.json'}", "--json")
    assert code == 0, err
    assert json.loads(out)["payload"] == big
    monkeypatch.setattr("sys.stdin", io.StringIO('{"from": "stdin"}'))
    code, out, err = cli("enqueue", "echo", "--payload", "-", "--json")
    assert code == 0, err
    assert json.loads(out)["payload"] == {"from": "stdin"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("{oops", "--payload is not JSON"),
        ("[" * 100_000, "--payload is nested too deeply"),
        (b"\xff\xfe", "is not UTF-8 text"),
    ],
)
def test_a_bad_payload_file_is_one_line(
    cli: Any, tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "payload.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, out, err = cli("enqueue", "echo", "--payload", f"@{path}")
    assert code == 2
    assert out == ""
    assert err.startswith("taskq: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


EVERY_COMMAND = [
    ["queues"],
    ["ls"],
    ["enqueue", "x"],
    ["status", "00000000-0000-7000-8000-000000000000"],
    ["migrate", "status"],
    ["psql", "-c", "SELECT 1"],
    ["worker"],
    ["api"],
    ["run"],
]


def one_line_failure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``taskq COMMAND`` (on a free port, for those that serve), expected to stop at once
    with one line on stderr: its exit status and that line."""
    port = ["--port", str(free_port())] if command[0] in ("api", "run") else []
    result = subprocess.run(
        [TASKQ, *command, *port], capture_output=True, text=True, timeout=30, cwd=cwd, env=env
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    return result.returncode, lines[0]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: c[0])
def test_a_url_libpq_cannot_read_is_one_line(command: list[str], tmp_path: Path) -> None:
    _, line = one_line_failure(command, tmp_path, clean_env(TASKQ_DATABASE_URL="not a url"))
    assert "TASKQ_DATABASE_URL is not a PostgreSQL URL" in line


@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_handler_module_that_cannot_be_imported_is_one_line(command: str, tmp_path: Path) -> None:
    (tmp_path / "broken_handlers.py").write_text("raise RuntimeError('broken on purpose')\n")
    for module, reason in (
        ("no_such_handlers_here", "ModuleNotFoundError: No module named 'no_such_handlers_here'"),
        ("broken_handlers", "RuntimeError: broken on purpose"),
    ):
        code, line = one_line_failure(
            [command, "--import", module, "--database-url", "postgresql://127.0.0.1:1/none"],
            tmp_path,
            clean_env(),
        )
        assert code == (1 if command == "run" else 2)
        assert line.endswith(f"cannot import handlers from {module}: {reason}"), line


def test_the_shared_options_are_written_once() -> None:
    """--database-url, --log-level, --log-format and --import read and say the same in every
    subcommand."""
    (subcommands,) = [
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    commands: dict[str, argparse.ArgumentParser] = subcommands.choices
    seen: dict[str, set[tuple[object, ...]]] = {}
    for parser in commands.values():
        for action in parser._actions:
            option = next((o for o in action.option_strings if o.startswith("--")), "")
            if option in ("--database-url", "--log-level", "--log-format", "--import"):
                described = (
                    tuple(action.option_strings),
                    action.help,
                    tuple(action.choices or ()),
                    repr(action.default),
                    action.type,
                )
                seen.setdefault(option, set()).add(described)
    assert {option: len(kinds) for option, kinds in seen.items()} == {
        "--database-url": 1,
        "--log-level": 1,
        "--log-format": 1,
        "--import": 1,
    }
    database = {n for n, p in commands.items() if "--database-url" in p._option_string_actions}
    assert database == set(commands)
    assert {n for n, p in commands.items() if "--import" in p._option_string_actions} == {
        "run",
        "worker",
    }


@pytest.mark.parametrize("command", ["run", "worker"])
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--concurrency", "0"], "must be at least 1, not 0"),
        (["--grace", "-1"], "must be a number of seconds >= 0, not -1"),
        (["--grace", "nan"], "must be a number of seconds >= 0, not nan"),
        (["--grace", "inf"], "must be a number of seconds >= 0, not inf"),
        (["--metrics-port", "0"], "must be a port number from 1 to 65535, not 0"),
        (["--metrics-port", "65536"], "must be a port number from 1 to 65535, not 65536"),
    ],
)
def test_the_worker_options_are_checked_alike(
    command: str, option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, *option])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", EVERY_COMMAND[:-1], ids=lambda c: c[0])
def test_no_command_but_run_starts_the_embedded_server(command: list[str], folder: Path) -> None:
    port = ["--port", str(free_port())] if command[0] == "api" else []
    result = subprocess.run(
        [TASKQ, *command, *port],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
        env=clean_env(),
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    data = folder / ".taskq" / "pgdata"
    assert (
        f"nothing is running here: the embedded PostgreSQL in {data} does not exist" in (lines[0])
    )
    assert "start it with `taskq run`" in lines[0]
    assert not (data / "PG_VERSION").exists()


def test_a_stopped_embedded_server_stays_stopped(folder: Path) -> None:
    server = LocalServer(embedded_bin_dir(), folder / ".taskq" / "pgdata")
    server.init()  # what `taskq run` leaves behind when it stops
    result = subprocess.run(
        [TASKQ, "ls"], capture_output=True, text=True, timeout=60, cwd=folder, env=clean_env()
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"taskq: nothing is running here: the embedded PostgreSQL in {server.data_dir} is "
        "stopped; start it with `taskq run` (or `make run`), or set TASKQ_DATABASE_URL"
    )
    assert not server.is_running()


@pytest.fixture
def wrong_password_url(pg_server: PgServer, database_url: str) -> Iterator[str]:
    """The test database as a role the server asks a password of, with the wrong one."""
    if pg_server.local is None:
        pytest.skip("needs the local test cluster, whose pg_hba.conf the test can change")
    role = f"taskq_password_{os.getpid()}"
    hba = pg_server.local.data_dir / "pg_hba.conf"
    original = hba.read_text()
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right'")
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n{original}")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield make_conninfo(database_url, user=role, password="wrong")
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            hba.write_text(original)
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("command", ["worker", "api"])
def test_a_wrong_password_at_start_is_one_line(
    command: str, wrong_password_url: str, tmp_path: Path
) -> None:
    env = clean_env(TASKQ_DATABASE_URL=wrong_password_url)
    code, line = one_line_failure([command], tmp_path, env)
    assert code == 2
    assert "refuses taskq: password authentication failed" in line


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+\[\d+\]: \S")


def api_log_of_one_request(database_url: str, log_path: Path, *flags: str) -> list[str]:
    """The lines ``taskq api FLAGS`` logs while it serves one ``GET /health`` and stops."""
    port = free_port()
    with log_path.open("w") as log:
        api = subprocess.Popen(
            [TASKQ, "api", "--port", str(port), *flags],
            env=clean_env(TASKQ_DATABASE_URL=database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        api.send_signal(signal.SIGTERM)
        # uvicorn stops, then ends by the signal it caught, as its own command does
        assert api.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if api.poll() is None:
            api.kill()
            api.wait(timeout=30)
    return log_path.read_text().splitlines()


def test_the_api_logs_in_the_one_format(database_url: str, tmp_path: Path) -> None:
    lines = api_log_of_one_request(database_url, tmp_path / "api.log")
    assert any("uvicorn" in line for line in lines), lines
    assert any('"GET /health HTTP/1.1" 200' in line for line in lines), lines
    assert [line for line in lines if not LOG_LINE.match(line)] == []


def test_health(cli: Any, database_url: str) -> None:
    cli("enqueue", "x")
    code, out, _ = cli("health")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["TABLE_NAME", "TOTAL", "TABLE"]
    assert any(line.startswith("tasks ") for line in out.splitlines())
    assert out.rstrip().endswith("nothing holds back the cleanup of the taskq tables")
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SET application_name = 'cli-holder'")
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute("SELECT 1")
        cli("enqueue", "x")
        code, out, _ = cli("health")
        assert code == 0
        pid = other.info.backend_pid
        assert f"held back by session pid {pid} 'cli-holder'" in out.splitlines()[-1]
        code, out, _ = cli("health", "--json")
        health = json.loads(out)
        assert {"tasks", "queues", "slots", "workers"} <= {
            t["table_name"] for t in health["tables"]
        }
        [holder] = [h for h in health["cleanup_holders"] if h["pid"] == pid]
        assert holder["is_horizon"] is True
        assert holder["xmin_age"] >= 1
        assert holder["age"].startswith("PT")  # ISO 8601, as every interval of --json
        other.execute("ROLLBACK")
