"""Schemathesis against /docs/openapi.json of a real `taskq api`: no 5xx, answers match the schema.

Every operation gets schema-valid (positive) and schema-breaking (negative) requests, a few
examples each with no per-example deadline, so the module stays well under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.api.conftest import Server
from tests.api.test_docs import ROUTES

MAX_EXAMPLES = 60
# Operations that take no input have no schema-breaking request to make.
NO_INPUT = {
    ("get", "/api/queues"),
    ("get", "/api/schedules"),
    ("get", "/health"),
    ("get", "/api/health/tables"),
    ("get", "/task/create"),
    ("get", "/metrics"),
}
# Fields whose valid values no schema can state: a cron expression's values, ranges and
# whether it ever matches, and which time zones the server knows. A schema-valid body may be
# 400 for them, and only for them.
# Durations likewise: an OpenAPI "duration" string may count years and months, which a
# duration of fixed length cannot, and no schema bounds its length (a timeout at most 1 year,
# unique_for at most 100 years); nor the least rate, which depends on its period (at least
# one task a year).
UNSTATABLE = {
    ("put", "/api/schedules/{name}"): {"cron", "time_zone"},
    ("post", "/api/tasks"): {"unique_for", "timeout"},
    ("patch", "/api/queues/{name}"): {"rate"},
    # each bound is in the schema; their product (at most a day) is not
    ("get", "/api/throughput"): {"buckets"},
}
CASES = [
    pytest.param(method, path, mode, id=f"{method.upper()} {path} {mode.value}")
    for method, path in sorted(ROUTES)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or (method, path) not in NO_INPUT
]


@pytest.fixture(scope="module")
def api_schema(server: Server) -> Any:
    loaded = schemathesis.openapi.from_url(f"{server.base_url}/docs/openapi.json", timeout=10)
    # PostgreSQL's text and jsonb cannot hold U+0000: the API answers 400 to it (tested in
    # test_tasks.py), which the positive checks would read as valid data refused.
    loaded.config.generation.update(allow_x00=False)
    return loaded


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms_to_its_schema(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method.upper()]
    calls = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        unstatable = UNSTATABLE.get((method, path), set())
        if mode is GenerationMode.POSITIVE and unstatable:
            response = case.call_and_validate(
                timeout=10, excluded_checks=[schemathesis.checks.positive_data_acceptance]
            )
            if response.status_code == 400:
                named = {p["name"] for p in response.json().get("invalid_params") or []}
                assert named, response.text
                assert named <= unstatable, response.text
        else:
            response = case.call_and_validate(timeout=10)
        calls.append(response.status_code)

    check()
    assert calls, "no request was made"
    assert all(status < 500 for status in calls), calls
