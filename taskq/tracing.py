"""The W3C trace context a task carries (``taskq.tasks.trace_context``), when OpenTelemetry is
in use.

:func:`current_trace_context` is what the client stores when an enqueue is given none: the
current span's ``traceparent`` (and ``tracestate``), or None. It costs one dictionary look-up
when nothing imported ``opentelemetry.trace``: without it no span can be current, so nothing
is imported here unless the application itself uses OpenTelemetry.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# the most of a tracestate the SQL side keeps (taskq._check_trace_context)
TRACESTATE_MAX = 512


def current_trace_context() -> dict[str, str] | None:
    """The current span's W3C context as ``{"traceparent": ..., "tracestate": ...}`` (no
    tracestate when it has none or one longer than the column takes), or None when no valid
    span is current or OpenTelemetry is not in use."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    return _inject()


def _inject() -> dict[str, str] | None:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, Any] = {}
    # the W3C propagator itself, whatever the application's global propagators are: the column
    # holds W3C headers
    TraceContextTextMapPropagator().inject(carrier)
    traceparent = carrier.get("traceparent")
    if not isinstance(traceparent, str):
        return None
    context = {"traceparent": traceparent}
    tracestate = carrier.get("tracestate")
    if isinstance(tracestate, str) and 0 < len(tracestate) <= TRACESTATE_MAX:
        context["tracestate"] = tracestate
    return context


# a version-00 traceparent: the trace id and the parent id, each not all zeros (checked apart)
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def from_headers(traceparent: str | None, tracestate: str | None) -> dict[str, str] | None:
    """The trace context of an HTTP request's ``traceparent`` and ``tracestate`` headers, as
    ``taskq._check_trace_context`` takes it; None when the traceparent is missing or invalid
    (the W3C rule: a receiver ignores an invalid one). A tracestate longer than the column
    takes, or not of printable ASCII, is left out."""
    if traceparent is None:
        return None
    value = traceparent.strip(" \t")
    match = _TRACEPARENT.fullmatch(value)
    if match is None or match[1] == "0" * 32 or match[2] == "0" * 16:
        return None
    context = {"traceparent": value}
    if tracestate is not None:
        state = tracestate.strip(" \t")
        if state and len(state) <= TRACESTATE_MAX and state.isascii() and state.isprintable():
            context["tracestate"] = state
    return context
