"""/docs and /docs/openapi.json: every route documented with examples, and the page offline."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Client, Server

CHROMIUM = Path("/usr/bin/chromium")

# Every route of DESIGN.md, as OpenAPI writes it.
ROUTES = {
    ("post", "/api/tasks"): "createTask",
    ("get", "/api/tasks"): "listTasks",
    ("get", "/api/tasks/{task_uuid}"): "getTask",
    ("patch", "/api/tasks/{task_uuid}/pause"): "pauseTask",
    ("patch", "/api/tasks/{task_uuid}/resume"): "resumeTask",
    ("post", "/api/tasks/{task_uuid}/cancel"): "cancelTask",
    ("post", "/api/tasks/{task_uuid}/retry"): "retryTask",
    ("get", "/api/queues"): "listQueues",
    ("patch", "/api/queues/{name}"): "updateQueue",
    ("get", "/api/schedules"): "listSchedules",
    ("get", "/api/schedules/{name}"): "getSchedule",
    ("put", "/api/schedules/{name}"): "putSchedule",
    ("delete", "/api/schedules/{name}"): "deleteSchedule",
    ("get", "/api/audit"): "listAudit",
    ("get", "/api/workers"): "listWorkers",
    ("get", "/api/throughput"): "throughput",
    ("get", "/task/create"): "legacyCreateTask",
    ("get", "/task/status/{task_id}"): "legacyTaskStatus",
    ("get", "/health"): "health",
    ("get", "/api/health/tables"): "tableHealth",
    ("get", "/metrics"): "metrics",
}


async def openapi(api: Client) -> dict[str, Any]:
    response = await api.get("/docs/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_every_route_has_an_operation_id_and_a_description(api: Client) -> None:
    schema = await openapi(api)
    found = {
        (method, path): operation["operationId"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert found == ROUTES
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("description"), (method, path)
            assert operation.get("summary"), (method, path)


async def test_every_body_has_examples(api: Client) -> None:
    schema = await openapi(api)
    bodies = 0
    for item in schema["paths"].values():
        for operation in item.values():
            if "requestBody" not in operation:
                continue
            bodies += 1
            media = operation["requestBody"]["content"]["application/json"]
            examples = media.get("examples") or media["schema"].get("examples")
            assert examples, operation["operationId"]
    assert bodies == 3
    create = schema["paths"]["/api/tasks"]["post"]["requestBody"]["content"]["application/json"]
    assert {
        "name": "send_email",
        "payload": {"to": "a@example.com"},
        "priority": "HIGH",
        "scheduled_at": "2030-01-01T10:00:00",
    } in create["schema"]["examples"]


async def test_errors_are_documented_as_problem_details(api: Client) -> None:
    schema = await openapi(api)
    pause = schema["paths"]["/api/tasks/{task_uuid}/pause"]["patch"]["responses"]
    assert set(pause) == {"200", "400", "401", "404", "409", "503"}
    conflict = pause["409"]["content"]["application/problem+json"]
    assert conflict["schema"] == {"$ref": "#/components/schemas/Problem"}
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert "invalid_params" in problem["properties"]


async def test_the_docs_page_loads_nothing_from_the_internet(api: Client) -> None:
    page = await api.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert len(assets) == 4, assets
    assert all(asset.startswith("/docs/assets/") for asset in assets), assets
    assert "http://" not in page.text
    assert "https://" not in page.text.replace("https://swagger.io", "")
    for asset in assets:
        served = await api.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_docs_page_renders_every_operation_in_chromium_offline(server: Server) -> None:
    with tempfile.TemporaryDirectory(prefix="taskq-chromium-") as profile:
        done = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                # The network is closed: no name resolves and every request but the API's goes
                # to a proxy that does not exist.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"{server.base_url}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'class="swagger-ui"' in dom, dom[:2000]
    shown = set(re.findall(r'data-path="([^"]+)"', dom))
    assert shown == {path for _, path in ROUTES}, shown
    assert dom.count("opblock-summary-method") >= len(ROUTES)
