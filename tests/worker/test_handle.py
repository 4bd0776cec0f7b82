"""The handle ``@task`` returns: still the handler, and it enqueues tasks of its name with its
options, from async code and through the sync client; a worker runs them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import psycopg
import pytest

from taskq import client
from taskq.errors import InvalidArgument
from taskq.sync import SyncClient
from tests.worker.helpers import running_worker
from tests.worker.test_worker_loop import finished
from tests.worker.test_worker_registry import make_context
from worker import Registry, TaskContext, TaskHandle

AsyncConn = psycopg.AsyncConnection[Any]
ROOT = Path(__file__).resolve().parents[2]


class Sum(TypedDict):
    a: int
    b: int


def adding_registry() -> tuple[Registry, TaskHandle[Sum, Any], TaskHandle[dict[str, Any], str]]:
    registry = Registry()

    @registry.task("handle.add")
    async def add(payload: Sum, ctx: TaskContext) -> dict[str, int]:
        """Adds a and b."""
        return {"sum": payload["a"] + payload["b"]}

    @registry.task("handle.shout")
    def shout(payload: dict[str, Any], ctx: TaskContext) -> str:
        return str(payload["text"]).upper()

    return registry, add, shout


async def test_a_handle_is_still_the_handler() -> None:
    registry, add, shout = adding_registry()
    assert await add({"a": 2, "b": 3}, make_context()) == {"sum": 5}
    assert shout({"text": "hi"}, make_context()) == "HI"
    assert (add.__name__, add.__doc__, add.name) == ("add", "Adds a and b.", "handle.add")
    found, thread = registry.get("handle.add"), registry.get("handle.shout")
    assert found is not None
    assert thread is not None
    assert (found.function, found.is_async, thread.is_async) == (add, True, False)
    # registered again (a module imported twice) or elsewhere, it runs as what it wraps
    registry.task("handle.add")(add.function)
    elsewhere = Registry()
    assert elsewhere.register("other", add).is_async


async def test_enqueued_through_a_handle_a_worker_runs_it(
    database_url: str, aconn: AsyncConn
) -> None:
    registry, add, shout = adding_registry()
    urgent = add.configure(queue="math", priority="HIGH", max_attempts=5)
    with SyncClient(database_url) as sync:
        by_async = await urgent.enqueue(aconn, {"a": 1, "b": 2})
        by_sync = shout.enqueue(sync, {"text": "hi"})
        queued = sync.get_task(by_async)
        assert (queued.name, queued.queue, queued.priority, queued.max_attempts) == (
            "handle.add",
            "math",
            "HIGH",
            5,
        )
        async with running_worker(database_url, registry=registry, queues=["default", "math"]):
            added = await finished(aconn, by_async)
            shouted = await finished(aconn, by_sync)
    assert (added.status, added.result) == ("COMPLETED", {"sum": 3})
    assert (shouted.status, shouted.result, shouted.queue) == ("COMPLETED", "HI", "default")


async def test_options_merge_and_delay_schedules_after_the_enqueue(aconn: AsyncConn) -> None:
    _, add, _ = adding_registry()
    base = add.configure(queue="math", max_attempts=2)
    later = base.configure(delay=timedelta(hours=1), priority="LOW")
    assert base.options == {"queue": "math", "max_attempts": 2}
    assert add.options == {}
    before = datetime.now(UTC)
    task = await client.get_task(aconn, await later.enqueue(aconn, {"a": 1, "b": 1}))
    assert (task.queue, task.max_attempts, task.priority) == ("math", 2, "LOW")
    assert (
        before + timedelta(hours=1) <= task.scheduled_at <= datetime.now(UTC) + timedelta(hours=1)
    )
    at = datetime(2999, 1, 1, tzinfo=UTC)
    assert add.configure(scheduled_at=at).arguments({"a": 1, "b": 2}) == {
        "name": "handle.add",
        "payload": {"a": 1, "b": 2},
        "scheduled_at": at,
    }
    ids = await client.enqueue_many(aconn, [base.arguments({"a": i, "b": i}) for i in range(3)])
    assert [(await client.get_task(aconn, i)).queue for i in ids] == ["math"] * 3


async def test_bad_options_and_payloads_are_refused_before_anything_is_enqueued(
    aconn: AsyncConn,
) -> None:
    _, add, _ = adding_registry()
    with pytest.raises(TypeError, match="no option 'colour'"):
        add.configure(colour="red")
    with pytest.raises(ValueError, match="not both"):
        add.configure(delay=timedelta(1)).configure(scheduled_at=datetime.now(UTC))
    with pytest.raises(ValueError, match="0 or more"):
        add.configure(delay=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="0 or more"):
        add.configure(delay=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after the year 9999"):
        add.configure(delay=timedelta.max).arguments({"a": 1, "b": 1})
    with pytest.raises(TypeError, match="is a dict, not list"):
        await add.enqueue(aconn, [("a", 1)])  # type: ignore[call-overload]
    with pytest.raises(InvalidArgument) as invalid:
        await add.configure(max_attempts=0).enqueue(aconn, {"a": 1, "b": 1})
    assert invalid.value.field == "max_attempts"
    assert (await client.list_tasks(aconn)).items == []


SNIPPET = """
from typing import TypedDict
from uuid import UUID

import psycopg

from taskq.sync import SyncClient
from worker import TaskContext, task


class Email(TypedDict):
    to: str


@task("typing.send_email")
async def send_email(payload: Email, ctx: TaskContext) -> str:
    return payload["to"]


async def produce(conn: psycopg.AsyncConnection[object], sync: SyncClient) -> None:
    task_id: UUID = await send_email.enqueue(conn, {"to": "ada@example.com"})
    other: UUID = send_email.configure(priority="HIGH").enqueue(sync, {"to": "bob@example.com"})
    send_email.enqueue(sync, {"too": "ada@example.com"})  # error: a misspelt key
    send_email.enqueue(sync, {"to": 1})  # error: a value of the wrong type
    send_email.configure(priority="URGENT")  # error: no such priority
    wrong: str = send_email.enqueue(sync, {"to": "ada@example.com"})  # error: it is a UUID
"""


def test_a_wrong_call_of_a_handle_fails_type_checking(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(SNIPPET), encoding="utf-8")
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = snippet.read_text(encoding="utf-8").splitlines()
    expected = {n for n, line in enumerate(lines, 1) if "# error:" in line}
    errors = {int(line.split(":")[1]) for line in checked.stdout.splitlines() if ": error:" in line}
    assert errors == expected, checked.stdout
