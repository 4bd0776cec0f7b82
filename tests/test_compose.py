"""docker-compose.yml: validated by Debian's docker-compose (no engine needed) and checked for
the services, healthchecks and start order the README promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "api", "worker"}
    assert services["postgres"]["image"] == "postgres:17"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["migrate"]["image"].startswith("sqitch/sqitch")
    assert services["migrate"]["command"][:2] == ["deploy", "--verify"]


def test_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["TASKQ_DATABASE_URL"].startswith("postgresql://")
    # the API and the worker log in as roles of their own (compose/logins.sql), not as the
    # superuser the migration deploys with
    assert "/docker-entrypoint-initdb.d/" in " ".join(map(str, services["postgres"]["volumes"]))
    for name, login in (("api", "taskq_api_login"), ("worker", "taskq_worker_login")):
        url = services[name]["environment"]["TASKQ_DATABASE_URL"]
        assert url.startswith(f"postgresql://{login}:")
    assert services["api"]["command"][:2] == ["taskq", "api"]
    assert services["worker"]["command"][:2] == ["taskq", "worker"]
    assert any(str(p).endswith("8000") for p in _ports(services["api"]))


def _ports(service: dict[str, Any]) -> list[Any]:
    return [p.get("published", p) if isinstance(p, dict) else p for p in service.get("ports", [])]


def test_dockerfile_installs_the_command() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text
    for folder in ("taskq", "api", "worker", "cli"):
        assert f"COPY {folder} " in text
