"""The error seam reads the SQL's error fields, never its messages: reword every RAISE and the
HTTP status, ``invalid_params``, ``task_id`` / ``task_status`` and the CLI's exit status stay.

The rewording is done in the test's database: every taskq function that raises is redefined
with ``reworded: `` put before each of its messages, so that no message starts as it did.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest

from cli.main import main
from taskq import client
from tests.api.conftest import Client

MISSING = UUID("01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11")
JSON = {"Content-Type": "application/json"}


def reword_every_raise(database_url: str) -> int:
    """Redefine every taskq function that raises, each message prefixed; how many there were."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        definitions = [
            str(row[0])
            for row in conn.execute(
                "SELECT pg_get_functiondef(p.oid) FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'taskq' AND p.prosrc LIKE '%RAISE EXCEPTION ''%'"
            )
        ]
        for definition in definitions:
            conn.execute(definition.replace("RAISE EXCEPTION '", "RAISE EXCEPTION 'reworded: "))
    return len(definitions)


def payload_nested(depth: int) -> Any:
    payload: Any = 1
    for _ in range(depth):
        payload = {"a": payload}
    return payload


async def http_answers(api: Client, cancelled: UUID) -> tuple[dict[str, Any], list[str]]:
    """What the API says to one refusal of each SQLSTATE class (status, invalid_params names and
    sources, task_id, task_status), and the details it gave."""
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "22023 payload": lambda: api.post(
            "/api/tasks/",
            content=json.dumps({"name": "x", "payload": payload_nested(80)}),
            headers=JSON,
        ),
        "P0002": lambda: api.get(f"/api/tasks/{MISSING}"),
        "55000": lambda: api.patch(f"/api/tasks/{cancelled}/pause"),
    }
    seen: dict[str, Any] = {}
    details = []
    for case, call in calls.items():
        body = (await call()).json()
        params = body.get("invalid_params")
        seen[case] = (
            body["status"],
            params and [(param["name"], param["source"]) for param in params],
            body.get("task_id"),
            body.get("task_status"),
        )
        details.append(body["detail"])
    return seen, details


async def cli_answers(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    queued: UUID,
) -> tuple[dict[str, int], list[str]]:
    """The exit status of the CLI for one refusal of each SQLSTATE class, and its lines (each
    run in a thread: the CLI runs its own event loop)."""
    monkeypatch.setenv("TASKQ_DATABASE_URL", database_url)
    commands = {
        "22023 max_attempts": ["enqueue", "x", "--max-attempts", "0"],
        "22023 concurrency": ["queue", "mail", "--concurrency", "0"],
        "P0002": ["status", str(MISSING)],
        "55000": ["retry", str(queued)],
    }
    seen = {}
    lines = []
    for case, command in commands.items():
        seen[case] = await asyncio.to_thread(main, command)
        lines.append(capsys.readouterr().err.strip())
    return seen, lines


async def test_rewording_every_raise_changes_no_answer(
    api: Client,
    db: client.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cancelled = await client.enqueue(db, "x")
    await client.cancel(db, cancelled)
    queued = await client.enqueue(db, "y")
    http = {
        "22023 payload": (400, [("payload", "body")], None, None),
        "P0002": (404, None, str(MISSING), None),
        "55000": (409, None, str(cancelled), "CANCELLED"),
    }
    exits = {"22023 max_attempts": 2, "22023 concurrency": 2, "P0002": 3, "55000": 4}
    assert (await http_answers(api, cancelled))[0] == http
    assert (await cli_answers(monkeypatch, capsys, database_url, queued))[0] == exits

    assert reword_every_raise(database_url) > 10
    answered, details = await http_answers(api, cancelled)
    assert all(detail.startswith("reworded: ") for detail in details), details
    assert answered == http
    exited, lines = await cli_answers(monkeypatch, capsys, database_url, queued)
    assert all(line.startswith("taskq: reworded: ") for line in lines), lines
    assert exited == exits
