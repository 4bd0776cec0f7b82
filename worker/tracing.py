"""The handler's span, when OpenTelemetry's API is installed (``pip install 'taskq[otel]'``).

:func:`handler_spans` is None without ``opentelemetry-api``: the worker then runs handlers as
it always did, and pays one ``if`` a task. With it, :meth:`HandlerSpans.run` runs the executor
inside a span named after the task, of kind CONSUMER, whose parent is the W3C trace context the
task was enqueued with (``Claimed.trace_context``): the trace of the request or the code that
enqueued the task goes on in the worker. The span is current while the handler runs (its own
spans are children, in a thread too), ends when the outcome is known, and has status ERROR when
the attempt failed, with the handler's exception recorded. A trace context that cannot be read
gives a span with no parent; it never stops the task. Without an SDK (no tracer provider set)
the spans are OpenTelemetry's no-op ones, and a task without a trace context gets none at all
(:meth:`HandlerSpans.wanted`): a no-op span of nothing would cost a tenth of the worker's time
a task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from taskq.client import Claimed
from worker.outcomes import Cancelled, Failed, Outcome, Running, first_line

INSTRUMENTATION = "taskq.worker"


class HandlerSpans:
    """Runs each attempt inside its span (see the module)."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        # a proxy until the application sets its tracer provider, then that provider's
        self._tracer = trace.get_tracer(INSTRUMENTATION)
        self._provider = trace.get_tracer_provider
        self._no_provider = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self._empty = Context
        self._kind = SpanKind.CONSUMER
        self._status = Status
        self._error = StatusCode.ERROR
        self._propagator = TraceContextTextMapPropagator()

    def wanted(self, task: Claimed) -> bool:
        """Whether the task's attempt gets a span: unless no tracer provider is set (the spans
        would be OpenTelemetry's no-op ones) and the task has no trace context to carry on
        (the no-op span of one holds the producer's context, which the handler's calls
        propagate)."""
        return task.trace_context is not None or type(self._provider()) not in self._no_provider

    def parent(self, trace_context: Any) -> Any:
        """The context a task's span continues: its trace context's, else an empty one (a root
        span), whatever the stored value is."""
        if isinstance(trace_context, dict):
            carrier = {k: v for k, v in trace_context.items() if isinstance(v, str)}
            try:
                return self._propagator.extract(carrier)
            except Exception:  # noqa: S110 - an unreadable context only loses the parent
                pass
        return self._empty()

    async def run(
        self, entry: Running, execute: Callable[[Running], Awaitable[Outcome]]
    ) -> Outcome:
        task = entry.task
        with self._tracer.start_as_current_span(
            task.name,
            context=self.parent(task.trace_context),
            kind=self._kind,
            attributes={
                "messaging.system": "taskq",
                "taskq.task_id": str(task.id),
                "taskq.queue": task.queue,
                "taskq.attempt": task.attempts,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            outcome = await execute(entry)
            if isinstance(outcome, Failed):
                if outcome.exception is not None:
                    span.record_exception(outcome.exception)
                span.set_status(self._status(self._error, first_line(outcome.error)))
            elif isinstance(outcome, Cancelled):
                span.set_attribute("taskq.cancelled", outcome.reason)
            return outcome


def handler_spans() -> HandlerSpans | None:
    """The spans of the handlers, or None when ``opentelemetry-api`` is not installed."""
    try:
        return HandlerSpans()
    except ImportError:
        return None
