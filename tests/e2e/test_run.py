"""`taskq run` as a person runs it: a subprocess in an empty folder, the README's commands
against it through the shell, a task seen In Queue -> Run -> Completed, SIGTERM, a clean exit.
Then the same with config.yaml pointing at a running server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import conninfo_to_dict

from taskq.pgserver import LocalServer, embedded_bin_dir, free_port

ROOT = Path(__file__).resolve().parents[2]
TASKQ = str(Path(sys.executable).parent / "taskq")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without taskq's settings (so the embedded default applies), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKQ_", "DATABASE_URL"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def taskq_run(folder: Path, port: int, *flags: str) -> Iterator[subprocess.Popen[str]]:
    log = (folder / "run.log").open("w")
    process = subprocess.Popen(
        [TASKQ, "run", "--port", str(port), *flags],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        log.close()


def wait_for_banner(
    process: subprocess.Popen[str], folder: Path, timeout: float = 120
) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Ctrl-C"):
            return lines
    log = (folder / "run.log").read_text()
    raise AssertionError(f"taskq run did not come up: {lines}\n{log}")


def http(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed one after another (curl adds no newline between them)."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    position = 0
    while position < len(text.rstrip()):
        while text[position].isspace():
            position += 1
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def readme_block(after: str, language: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(after)
    block = re.search(rf"```{language}\n(.*?)```", text[start:], re.DOTALL)
    assert block is not None
    return block.group(1)


def status_sequence(base: str, task_id: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http("GET", f"{base}/task/status/{task_id}")["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("Completed", "Failed", "Cancelled"):
            break
        time.sleep(0.05)
    return seen


def watch_a_task(base: str) -> None:
    """A sleep task due in 1.5 s goes In Queue -> Run -> Completed."""
    due = (datetime.now(UTC) + timedelta(seconds=1.5)).replace(tzinfo=None).isoformat()
    task = http(
        "POST",
        f"{base}/api/tasks/",
        {"name": "sleep", "payload": {"seconds": 0.5}, "scheduled_at": due},
    )
    assert status_sequence(base, task["id"]) == ["In Queue", "Run", "Completed"]


def stop(process: subprocess.Popen[str], folder: Path) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    assert code == 0, (folder / "run.log").read_text()


def test_run_with_the_embedded_database(folder: Path) -> None:
    port = free_port()
    base = f"http://localhost:{port}"
    with taskq_run(folder, port) as process:
        banner = wait_for_banner(process, folder)
        assert any(f"{base}/docs" in line for line in banner)
        psql_line = next(line for line in banner if line.strip().startswith("psql"))
        database_url = psql_line.split("'")[1]

        # the README's curl examples, through the shell, as written (but for the port)
        script = readme_block("**REST**", "sh").replace("localhost:8000", f"localhost:{port}")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        outputs = json_documents(result.stdout)
        assert outputs[0]["status"] == "QUEUED"
        assert outputs[0]["scheduled_at"] == "2030-01-01T10:00:00+00:00"
        assert set(outputs[1]) == {"task_id"}
        assert outputs[2]["status"] in ("In Queue", "Run")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", outputs[2]["create_time"])

        # the README's CLI examples, against the same database
        cli = readme_block("**CLI**", "sh").replace(".venv/bin/taskq", TASKQ)
        cli = "\n".join(line for line in cli.splitlines() if "<" not in line)
        env = clean_env(TASKQ_DATABASE_URL=database_url)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", cli],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=folder,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "reports" in result.stdout

        watch_a_task(base)
        # the API and the worker log in as roles of their own, not as the superuser
        with psycopg.connect(database_url) as conn:
            users = conn.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert sorted(users) == [("taskq_api_login",), ("taskq_worker_login",)]
        stop(process, folder)

    server = LocalServer(embedded_bin_dir(), folder / ".taskq" / "pgdata")
    assert not server.is_running(), "the embedded server was left running"

    # the next run finds the same data
    with taskq_run(folder, port) as process:
        wait_for_banner(process, folder)
        page = http("GET", f"{base}/api/tasks?name=send_email")
        assert [t["scheduled_at"] for t in page["items"]] == ["2030-01-01T10:00:00+00:00"]
        stop(process, folder)


def run_to_the_end(folder: Path) -> subprocess.CompletedProcess[str]:
    """A `taskq run` expected to stop by itself (with an error)."""
    return subprocess.run(
        [TASKQ, "run", "--port", str(free_port())],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_second_run_on_the_same_folder_says_so(folder: Path) -> None:
    port = free_port()
    with taskq_run(folder, port) as process:
        wait_for_banner(process, folder)
        second = run_to_the_end(folder)
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert "Traceback" not in second.stderr
        assert http("GET", f"http://localhost:{port}/health")["status"] == "ok"
        stop(process, folder)


def write_config(folder: Path, database_url: str) -> None:
    parts = conninfo_to_dict(database_url)
    (folder / "config.yaml").write_text(
        "pg:\n"
        f"  host: {parts.get('host', '127.0.0.1')}\n"
        f"  database: {parts['dbname']}\n"
        f"  user: {parts.get('user', 'postgres')}\n"
        f"  passwd: {parts.get('password') or 'unused'}\n"
        f"  port: {parts.get('port', 5432)}\n"
    )


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_run_with_config_yaml(folder: Path, empty_database_url: str) -> None:
    write_config(folder, empty_database_url)
    port, metrics_port = free_port(), free_port()
    with taskq_run(folder, port, "--metrics-port", str(metrics_port)) as process:
        banner = wait_for_banner(process, folder)
        assert any("config.yaml" in line for line in banner)
        assert any(f"http://localhost:{port}/metrics" in line for line in banner)
        watch_a_task(f"http://localhost:{port}")
        # the API's metrics read the database; the worker's count what it ran
        queues = scrape(f"http://127.0.0.1:{port}/metrics")
        assert queues[("taskq_tasks", (("queue", "default"), ("status", "completed")))] == 1
        worker = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        sleeps = (("outcome", "completed"), ("task_name", "sleep"))
        assert worker[("taskq_worker_handler_duration_seconds_count", sleeps)] == 1
        assert worker[("taskq_worker_claimed_tasks_total", ())] == 1
        stop(process, folder)
    assert not (folder / ".taskq" / "pgdata").exists(), "the embedded server was started needlessly"


@pytest.mark.parametrize("any_name", [False, True], ids=["its-names", "any-name"])
def test_the_worker_of_run_leaves_other_names_alone_unless_any_name(
    folder: Path, database_url: str, any_name: bool
) -> None:
    # the README's handler section runs `taskq worker --import myapp.tasks` beside `make run`
    write_config(folder, database_url)
    port = free_port()
    base = f"http://localhost:{port}"
    with taskq_run(folder, port, *(["--any-name"] if any_name else [])) as process:
        wait_for_banner(process, folder)
        other = http("POST", f"{base}/api/tasks/", {"name": "send_email", "max_attempts": 1})
        watch_a_task(base)  # enqueued after send_email; both due, send_email first in line
        deadline = time.monotonic() + 15
        while True:
            seen = http("GET", f"{base}/api/tasks/{other['id']}")
            if not any_name or seen["status"] == "FAILED" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        stop(process, folder)
    if any_name:
        assert (seen["status"], seen["attempts"]) == ("FAILED", 1)
        assert seen["last_error"] == "no handler registered for 'send_email'"
    else:
        assert (seen["status"], seen["attempts"], seen["last_error"]) == ("QUEUED", 0, None)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("pg: [not, a, mapping\n", "is not valid YAML"),
        (
            "pg:\n  host: 127.0.0.1\n  port: 1\n  database: x\n  user: x\n  passwd: x\n",
            "cannot connect to the database",
        ),
        ("pg:\n  host: 127.0.0.1\n  colour: blue\n", "unknown key(s) in 'pg:': colour"),
        ("pg:\n  port: eighty\n", "pg.port must be a number"),
    ],
)
def test_bad_configuration_is_one_clear_line(folder: Path, config: str, message: str) -> None:
    (folder / "config.yaml").write_text(config)
    result = run_to_the_end(folder)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("taskq:")]) == 1


def test_sigterm_through_make_run_lets_running_tasks_finish(folder: Path) -> None:
    """`make run` with a task running; SIGTERM to make's process group, twice. make passes its
    own SIGTERM on to taskq, so taskq sees each one twice: none of them cuts the grace short."""
    port = free_port()
    base = f"http://localhost:{port}"
    venv = Path(sys.executable).parent.parent
    command = ["make", "--no-print-directory", "-C", str(ROOT), f"VENV={venv}"]
    command += ["-o", f"{venv}/.installed-run", "run", f"ARGS=--port {port}"]
    env = clean_env(TASKQ_HOME=str(folder / "home"))
    with (folder / "run.log").open("w") as log:
        make = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
        )
    try:
        wait_for_banner(make, folder)
        task = http("POST", f"{base}/api/tasks/", {"name": "sleep", "payload": {"seconds": 3}})
        deadline = time.monotonic() + 30
        while http("GET", f"{base}/api/tasks/{task['id']}")["status"] != "RUNNING":
            assert time.monotonic() < deadline, "the sleep task never started"
            time.sleep(0.05)
        os.killpg(make.pid, signal.SIGTERM)
        time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        code = make.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(timeout=30)
    log_text = (folder / "run.log").read_text()
    # make dies by the SIGTERM it was sent; it would add "Error N" had taskq failed
    assert code in (0, -signal.SIGTERM), log_text
    assert not re.search(r"make: \*\*\* .*Error", log_text), log_text
    assert f"task {task['id']} 'sleep' attempt 1/3 completed" in log_text
    assert "cancelling" not in log_text
    assert "Traceback" not in log_text
    assert "CancelledError" not in log_text
    assert "stopping the embedded PostgreSQL" in log_text
    server = LocalServer(embedded_bin_dir(), folder / "home" / "pgdata")
    assert not server.is_running(), "the embedded server was left running"
