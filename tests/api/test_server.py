"""`taskq api` as a subprocess over real HTTP: the seeds' curl examples as written, a smoke flow."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.api.conftest import ROOT, Server

# The older API's examples, exactly as its README gives them (only the port is the test's).
SEED_CREATE = (
    "curl -X POST http://localhost:8000/api/tasks/ -H 'Content-Type: application/json' "
    """-d '{"name": "send_email", "payload": {"to": "a@example.com"}, "priority": "HIGH", """
    """"scheduled_at": "2030-01-01T10:00:00"}'"""
)
SEED_LEGACY_CREATE = "curl http://localhost:8000/task/create"
SEED_LEGACY_STATUS = "curl http://localhost:8000/task/status/{task_id}"

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def run_seed(command: str, server: Server) -> Any:
    command = command.replace("localhost:8000", f"localhost:{server.port}")
    done = subprocess.run(
        ["bash", "-c", command + " --silent --show-error"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_curl
def test_seed_post_with_a_naive_scheduled_at(server: Server) -> None:
    task = run_seed(SEED_CREATE, server)
    assert task["name"] == "send_email"
    assert task["priority"] == "HIGH"
    assert task["status"] == "QUEUED"
    assert task["payload"] == {"to": "a@example.com"}
    assert task["scheduled_at"] == "2030-01-01T10:00:00+00:00"
    again = httpx.get(f"{server.base_url}/api/tasks/{task['id']}", timeout=10)
    assert again.status_code == 200
    assert {**again.json(), "created": True} == {**task, "time_to_execute": None}


@needs_curl
def test_seed_task_create_then_status(server: Server) -> None:
    created = run_seed(SEED_LEGACY_CREATE, server)
    assert set(created) == {"task_id"}
    status = run_seed(SEED_LEGACY_STATUS.format(task_id=created["task_id"]), server)
    assert status["status"] == "In Queue"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", status["create_time"])
    assert status["start_time"] is None
    assert status["time_to_execute"] is None


def test_smoke_flow_over_http(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.get("/health").json()["status"] == "ok"
        created = http.post("/api/tasks", json={"name": "smoke", "queue": "smoke"})
        assert created.status_code == 201
        task_id = created.json()["id"]
        assert http.patch(f"/api/tasks/{task_id}/pause").json()["status"] == "PAUSED"
        assert http.patch(f"/api/tasks/{task_id}/resume").json()["status"] == "QUEUED"
        assert http.post(f"/api/tasks/{task_id}/cancel").json()["status"] == "CANCELLED"
        assert http.post(f"/api/tasks/{task_id}/retry").json()["status"] == "QUEUED"
        retried_twice = http.post(f"/api/tasks/{task_id}/retry")
        assert retried_twice.status_code == 409
        assert retried_twice.headers["content-type"].startswith("application/problem+json")
        listed = http.get("/api/tasks", params={"queue": "smoke"}).json()
        assert [task["id"] for task in listed["items"]] == [task_id]
        queue = http.patch("/api/queues/smoke", json={"concurrency": 7})
        assert queue.json()["concurrency"] == 7
        assert queue.json()["queued"] == 1
        assert "smoke" in {row["queue"] for row in http.get("/api/queues").json()}
        assert http.get("/api/tasks/not-a-uuid").status_code == 400
        assert http.post("/api/tasks", content=b"x" * (1024 * 1024 + 10)).status_code == 413
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert "swagger-ui-bundle.js" in docs.text
        assert http.get("/docs/openapi.json").json()["info"]["title"] == "taskq"


def test_a_deep_body_is_400_and_a_body_not_declared_json_415_over_http(server: Server) -> None:
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        too_deep = http.post(
            "/api/tasks/", content=deep, headers={"Content-Type": "application/json"}
        )
        assert too_deep.status_code == 400, too_deep.text
        assert too_deep.headers["content-type"].startswith("application/problem+json")
        plain = http.post(
            "/api/tasks/", content='{"name": "x"}', headers={"Content-Type": "text/plain"}
        )
        assert plain.status_code == 415, plain.text
        assert plain.headers["content-type"].startswith("application/problem+json")


def test_the_token_comes_from_the_environment(module_database_url: str) -> None:
    secured = Server(module_database_url, env={"TASKQ_API_TOKEN": "from-env"})
    try:
        secured.wait_ready()
        with httpx.Client(base_url=secured.base_url, timeout=10) as http:
            assert http.get("/health").status_code == 200
            assert http.get("/api/queues").status_code == 401
            good = http.get("/api/queues", headers={"Authorization": "Bearer from-env"})
            assert good.status_code == 200
    finally:
        secured.stop()


def test_without_database_url_the_environment_names_the_database(
    module_database_url: str,
) -> None:
    found = Server(None, env={"TASKQ_DATABASE_URL": module_database_url})
    try:
        found.wait_ready()
        created = httpx.post(f"{found.base_url}/api/tasks/", json={"name": "env"}, timeout=10)
        assert created.status_code == 201
        listed = httpx.get(f"{found.base_url}/api/tasks", params={"name": "env"}, timeout=10)
        assert [task["id"] for task in listed.json()["items"]] == [created.json()["id"]]
    finally:
        found.stop()


def test_taskq_api_help_names_host_and_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "api", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--host", "--port", "--database-url"):
        assert option in done.stdout
