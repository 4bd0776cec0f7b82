"""Traces: a producer's span enqueues through the client, an in-process worker runs the handler
in a span that continues the producer's trace (OpenTelemetry's SDK, its in-memory exporter)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from psycopg.types.json import Jsonb

from taskq import client
from taskq.errors import InvalidArgument
from tests.worker.helpers import WorkerProcess, await_until, enqueue, running_worker
from tests.worker.test_worker_cli import finished as task_finished
from worker import Registry, TaskContext
from worker.outcomes import Failed, Succeeded
from worker.tracing import HandlerSpans

# the global tracer provider can be set once a process: one exporter for every test here
_EXPORTER = InMemorySpanExporter()
_PROVIDER_LOCK = threading.Lock()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with _PROVIDER_LOCK:
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
            trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def traced_registry() -> Registry:
    registry = Registry()

    @registry.task("tests.traced")
    async def traced(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        with trace.get_tracer("tests").start_as_current_span("inside the handler"):
            return {"ok": True}

    @registry.task("tests.traced_thread")
    def traced_thread(payload: dict[str, Any], ctx: TaskContext) -> None:
        with trace.get_tracer("tests").start_as_current_span("inside the thread"):
            pass

    @registry.task("tests.traced_boom")
    async def traced_boom(payload: dict[str, Any], ctx: TaskContext) -> None:
        raise ValueError("boom")

    return registry


def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan | None:
    return next((s for s in exporter.get_finished_spans() if s.name == name), None)


async def status_of(aconn: psycopg.AsyncConnection[Any], task_id: UUID) -> str:
    return (await client.get_task(aconn, task_id)).status


async def test_the_handler_span_continues_the_producer_trace(
    database_url: str, aconn: psycopg.AsyncConnection[Any], spans: InMemorySpanExporter
) -> None:
    await client.set_concurrency(aconn, "default", None)
    tracer = trace.get_tracer("tests.producer")
    with tracer.start_as_current_span("producer") as producer:
        task_id = await client.enqueue(aconn, "tests.traced", {"n": 1})
        (thread_id,) = await client.enqueue_many(aconn, [{"name": "tests.traced_thread"}])
    stored = (await client.get_task(aconn, task_id)).trace_context
    context = producer.get_span_context()
    ids = f"{context.trace_id:032x}-{context.span_id:016x}"
    assert stored == {"traceparent": f"00-{ids}-{context.trace_flags:02x}"}
    assert (await client.get_task(aconn, thread_id)).trace_context == stored

    async with running_worker(database_url, registry=traced_registry()):
        await await_until(
            lambda: _all_done(aconn, [task_id, thread_id]), 15, "the traced tasks completed"
        )
    span = finished(spans, "tests.traced")
    assert span is not None, [s.name for s in spans.get_finished_spans()]
    assert span.kind is SpanKind.CONSUMER
    assert span.context.trace_id == context.trace_id
    assert span.parent is not None
    assert span.parent.span_id == context.span_id
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "messaging.system": "taskq",
        "taskq.task_id": str(task_id),
        "taskq.queue": "default",
        "taskq.attempt": 1,
    }
    # the handler's own spans, async and in a thread, are children of the task's span
    for inner, outer in (
        ("inside the handler", "tests.traced"),
        ("inside the thread", "tests.traced_thread"),
    ):
        child, parent = finished(spans, inner), finished(spans, outer)
        assert child is not None
        assert parent is not None
        assert child.parent is not None
        assert child.parent.span_id == parent.context.span_id
        assert child.context.trace_id == context.trace_id


async def _all_done(aconn: psycopg.AsyncConnection[Any], ids: list[UUID]) -> bool:
    return all([await status_of(aconn, task_id) == "COMPLETED" for task_id in ids])


async def test_a_failing_handler_span_has_status_error(
    database_url: str, aconn: psycopg.AsyncConnection[Any], spans: InMemorySpanExporter
) -> None:
    task_id = await client.enqueue(aconn, "tests.traced_boom", max_attempts=1)
    async with running_worker(database_url, registry=traced_registry()):
        await await_until(lambda: _is(aconn, task_id, "FAILED"), 15, "the failing task failed")
    span = finished(spans, "tests.traced_boom")
    assert span is not None
    assert span.parent is None  # enqueued outside any span
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: boom"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert dict(event.attributes or {})["exception.type"] == "ValueError"


async def _is(aconn: psycopg.AsyncConnection[Any], task_id: UUID, status: str) -> bool:
    return await status_of(aconn, task_id) == status


@pytest.mark.parametrize(
    "trace_context",
    [
        None,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ["not", "a", "dict"],
        {"traceparent": "garbage"},
        {"traceparent": 5, "tracestate": {"x": 1}},
        {"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"},
    ],
)
async def test_an_unreadable_trace_context_gives_a_span_without_parent(
    trace_context: Any, spans: InMemorySpanExporter
) -> None:
    """What the SQL refuses today may have been stored before: the task runs all the same."""
    from datetime import UTC, datetime

    from taskq.client import Claimed
    from worker.outcomes import Running

    task = Claimed(
        UUID(int=1),
        "default",
        "job",
        {},
        "MEDIUM",
        1,
        3,
        UUID(int=2),
        datetime.now(UTC),
        None,
        trace_context,
    )

    async def execute(entry: Running) -> Succeeded:
        return Succeeded(None)

    entry = Running(task, None, 0.0)  # type: ignore[arg-type]
    assert await HandlerSpans().run(entry, execute) == Succeeded(None)
    (span,) = spans.get_finished_spans()
    assert span.parent is None
    assert span.context.is_valid


async def test_a_failed_outcome_without_exception_is_an_error_too(
    spans: InMemorySpanExporter,
) -> None:
    from datetime import UTC, datetime

    from taskq.client import Claimed
    from worker.outcomes import Running

    task = Claimed(
        UUID(int=1), "default", "job", {}, "MEDIUM", 2, 3, UUID(int=2), datetime.now(UTC)
    )

    async def execute(entry: Running) -> Failed:
        return Failed("TimeoutError: timed out after 1s")

    await HandlerSpans().run(Running(task, None, 0.0), execute)  # type: ignore[arg-type]
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "TimeoutError: timed out after 1s"
    assert dict(span.attributes or {})["taskq.attempt"] == 2


GIVEN = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


async def test_a_given_trace_context_wins_over_the_current_span(
    aconn: psycopg.AsyncConnection[Any], spans: InMemorySpanExporter
) -> None:
    with trace.get_tracer("tests.producer").start_as_current_span("producer") as producer:
        current = producer.get_span_context()
        given = await client.enqueue(aconn, "job", trace_context=GIVEN)
        as_arrays = await client.enqueue_many(
            aconn, [{"name": "job", "trace_context": GIVEN}, {"name": "job"}]
        )
        # a task that is not a plain dict sends the call as the JSON form
        as_json = await client.enqueue_many(
            aconn, [OrderedDict(name="job", trace_context=GIVEN), OrderedDict(name="job")]
        )
    contexts = [
        (await client.get_task(aconn, task_id)).trace_context
        for task_id in [given, *as_arrays, *as_json]
    ]
    assert [c == GIVEN for c in contexts] == [True, True, False, True, False]
    for context in (contexts[2], contexts[4]):
        assert context is not None
        assert context["traceparent"].split("-")[1] == f"{current.trace_id:032x}"


@pytest.mark.parametrize("tasks", [None, "arrays", "json"])
async def test_a_bad_trace_context_is_invalid_argument_naming_it(
    aconn: psycopg.AsyncConnection[Any], tasks: str | None
) -> None:
    bad = {"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"}
    first: dict[str, Any] = OrderedDict(name="job") if tasks == "json" else {"name": "job"}
    call = (
        client.enqueue(aconn, "job", trace_context=bad)
        if tasks is None
        else client.enqueue_many(aconn, [first, {"name": "job", "trace_context": bad}])
    )
    with pytest.raises(InvalidArgument) as info:
        await call
    assert info.value.field == ("trace_context" if tasks is None else "tasks[1].trace_context")
    assert "trace id of all zeros" in str(info.value)


@pytest.mark.parametrize("bad", [GIVEN["traceparent"], [GIVEN], 5])
async def test_a_trace_context_that_is_no_mapping_is_invalid_argument(
    aconn: psycopg.AsyncConnection[Any], bad: Any
) -> None:
    """The SQL says what is wrong with it, as with any other bad value."""
    with pytest.raises(InvalidArgument) as info:
        await client.enqueue(aconn, "job", trace_context=bad)
    assert info.value.field == "trace_context"
    assert "must be a JSON object" in str(info.value)


def test_without_a_tracer_provider_the_producer_context_still_reaches_the_handler(
    database_url: str, tmp_path: Path
) -> None:
    # a worker process without OpenTelemetry's SDK: a task with a trace context runs in the
    # no-op span that carries it (the handler's own calls propagate it); one without runs in none
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        WorkerProcess(database_url, tmp_path / "w.log", "--import", "tests.worker.handlers") as w,
    ):
        w.wait_ready(conn)
        traced = enqueue(
            conn, "tests.current_span", trace_context=Jsonb({"traceparent": traceparent})
        )
        plain = enqueue(conn, "tests.current_span")
        assert task_finished(conn, traced)["result"] == {
            "valid": True,
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
        }
        assert task_finished(conn, plain)["result"] == {"valid": False, "trace_id": "0" * 32}
