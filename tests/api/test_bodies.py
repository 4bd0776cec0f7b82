"""Request bodies: JSON by their Content-Type (else 415), and never too deep to answer (400).

Bodies nested 1,000 levels deep once made the JSON decoder raise RecursionError, a 500. Every
route is sent such bodies here: the routes that read a body answer 400, the others ignore it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.bodies import MAX_BODY_DEPTH, json_depth
from tests.api.conftest import Client
from tests.api.test_tasks import MISSING, invalid_names, problem

JSON = {"Content-Type": "application/json"}


def nested(depth: int, leaf: str = "1") -> str:
    """A JSON value ``depth`` levels deep: objects and arrays within each other."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + leaf + closing


def task_body(payload_depth: int) -> bytes:
    """A task whose payload (an object) is ``payload_depth`` levels deep."""
    return ('{"name": "x", "payload": {"a":' + nested(payload_depth - 1) + "}}").encode()


# -- how deep a body is --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"1", 0),
        (b'"[[[{{{"', 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}], "c": {}}', 4),
        (b'{"a": "\\"[[[", "b": ["]]]"]}', 2),
        (nested(3000).encode(), 3000),
        (b"[" * 5000, 5000),
    ],
)
def test_json_depth_counts_containers_not_brackets_in_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_json_depth_agrees_with_the_decoder() -> None:
    for depth in (0, 1, 2, 7, 100, MAX_BODY_DEPTH):
        text = nested(depth)
        assert json_depth(text.encode()) == depth
        value = json.loads(text)
        for _ in range(depth):
            value = value["a"] if isinstance(value, dict) else value[0]
        assert value == 1


# -- deep bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 999, 1000, 3000, 100_000])
async def test_a_body_nested_too_deep_is_400_on_create(api: Client, depth: int) -> None:
    response = await api.post("/api/tasks/", content=nested(depth).encode(), headers=JSON)
    body = problem(response, 400)
    assert invalid_names(body) == ["body"]
    assert str(MAX_BODY_DEPTH) in body["detail"]


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH, 999, 1000, 3000])
async def test_a_payload_nested_too_deep_is_400_on_create(api: Client, depth: int) -> None:
    response = await api.post("/api/tasks/", content=task_body(depth), headers=JSON)
    assert invalid_names(problem(response, 400)) == ["body"]


@pytest.mark.parametrize("depth", [1, 2, 50, 100, 200, 400, MAX_BODY_DEPTH - 1])
async def test_a_deep_payload_is_enqueued_whole_or_refused_as_400(api: Client, depth: int) -> None:
    """Up to the body's limit, what is deeper than the SQL side takes is its 400; never a 500."""
    response = await api.post("/api/tasks/", content=task_body(depth), headers=JSON)
    if response.status_code == 400:
        assert invalid_names(problem(response, 400)) == ["payload"]
        return
    assert response.status_code == 201, response.text
    sent = json.loads(task_body(depth))["payload"]
    task = response.json()
    assert task["payload"] == sent
    again = await api.get(f"/api/tasks/{task['id']}")
    assert again.status_code == 200
    assert again.json()["payload"] == sent
    listed = await api.get("/api/tasks", params={"include": "payload"})
    assert listed.status_code == 200
    assert listed.json()["items"][0]["payload"] == sent


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 1000, 3000])
async def test_a_body_nested_too_deep_is_400_on_queue_patch(api: Client, depth: int) -> None:
    for content in (nested(depth), '{"paused": ' + nested(depth - 1) + "}"):
        response = await api.patch("/api/queues/mail", content=content.encode(), headers=JSON)
        assert invalid_names(problem(response, 400)) == ["body"]
    assert (await api.get("/api/queues")).json() == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/task/create", 200),
        ("GET", f"/task/status/{MISSING}", 404),
        ("GET", "/api/tasks", 200),
        ("GET", "/api/queues", 200),
        ("POST", f"/api/tasks/{MISSING}/cancel", 404),
        ("PATCH", f"/api/tasks/{MISSING}/pause", 404),
        ("GET", "/health", 200),
    ],
)
async def test_routes_without_a_body_ignore_a_deep_one(
    api: Client, method: str, path: str, status: int
) -> None:
    response = await api.request(method, path, content=nested(3000).encode(), headers=JSON)
    assert response.status_code == status, response.text


# -- the Content-Type ----------------------------------------------------------------------------

NOT_JSON = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/jsonx",
    "application/json-seq",
    "text/json",
    "json",
]


@pytest.mark.parametrize("content_type", NOT_JSON)
async def test_a_body_that_is_not_declared_json_is_415_on_create(
    api: Client, content_type: str
) -> None:
    response = await api.post(
        "/api/tasks/", content=b'{"name": "x"}', headers={"Content-Type": content_type}
    )
    body = problem(response, 415)
    assert "application/json" in body["detail"]
    assert response.headers["accept-post"] == "application/json"
    assert (await api.get("/api/tasks")).json()["items"] == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_declared_json_is_415_on_queue_patch(
    api: Client, content_type: str
) -> None:
    response = await api.patch(
        "/api/queues/mail", content=b'{"paused": true}', headers={"Content-Type": content_type}
    )
    problem(response, 415)
    assert response.headers["accept-patch"] == "application/json"
    assert (await api.get("/api/queues")).json() == []


async def test_a_body_without_a_content_type_is_415(api: Client) -> None:
    response = await api.post("/api/tasks/", content=b'{"name": "x"}')
    assert "content-type" not in response.request.headers
    assert "Content-Type" in problem(response, 415)["detail"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.taskq+json; charset=UTF-8",
    ],
)
async def test_json_and_its_structured_suffix_are_accepted(api: Client, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    created = await api.post("/api/tasks/", content=b'{"name": "x"}', headers=headers)
    assert created.status_code == 201, created.text
    patched = await api.patch("/api/queues/mail", content=b'{"paused": true}', headers=headers)
    assert patched.status_code == 200, patched.text


async def test_no_body_needs_no_content_type(api: Client) -> None:
    created = await api.post("/api/tasks/", json={"name": "x"})
    task_id = created.json()["id"]
    assert (await api.patch(f"/api/tasks/{task_id}/pause")).status_code == 200
    assert (await api.post(f"/api/tasks/{task_id}/cancel")).status_code == 200
    missing = problem(await api.post("/api/tasks/"), 400)
    assert invalid_names(missing) == ["body"]


async def test_the_size_limit_comes_before_the_content_type(api: Client) -> None:
    big = b"x" * (1024 * 1024 + 1)
    problem(await api.post("/api/tasks/", content=big, headers={"Content-Type": "text/plain"}), 413)


async def test_a_schedule_body_not_declared_json_is_415(api: Client) -> None:
    response = await api.put(
        "/api/schedules/nightly",
        content=b'{"cron": "0 3 * * *"}',
        headers={"Content-Type": "text/plain"},
    )
    problem(response, 415)
    assert (await api.get("/api/schedules/nightly")).status_code == 404


async def test_routes_without_a_body_ignore_its_content_type(api: Client) -> None:
    response = await api.post(
        f"/api/tasks/{MISSING}/retry", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    problem(response, 404)


async def test_the_openapi_schema_documents_415_on_the_routes_with_a_body(api: Client) -> None:
    schema: dict[str, Any] = (await api.get("/docs/openapi.json")).json()
    with_body = {
        (path, method)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }
    assert with_body == {
        ("/api/tasks", "post"),
        ("/api/queues/{name}", "patch"),
        ("/api/schedules/{name}", "put"),
    }
    for path, method in with_body:
        responses = schema["paths"][path][method]["responses"]
        assert "application/problem+json" in responses["415"]["content"]
