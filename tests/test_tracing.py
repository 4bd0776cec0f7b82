"""taskq.tracing without a span: the client imports nothing of OpenTelemetry, and the headers
of a request become a trace context only when the W3C rule takes them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from taskq.tracing import from_headers

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_client_imports_no_opentelemetry_unless_the_application_does() -> None:
    script = (
        "import sys\n"
        "import taskq.client, taskq.sync, api.app\n"
        "from taskq.tracing import current_trace_context\n"
        "assert current_trace_context() is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("traceparent", "tracestate", "context"),
    [
        (TRACEPARENT, None, {"traceparent": TRACEPARENT}),
        (f" {TRACEPARENT}\t", " a=b ", {"traceparent": TRACEPARENT, "tracestate": "a=b"}),
        (TRACEPARENT, "", {"traceparent": TRACEPARENT}),
        (TRACEPARENT, "a=" + "b" * 511, {"traceparent": TRACEPARENT}),
        (TRACEPARENT, "a=\x01", {"traceparent": TRACEPARENT}),
        (TRACEPARENT, "a=é", {"traceparent": TRACEPARENT}),
        (None, "a=b", None),
        ("", None, None),
        (TRACEPARENT.upper(), None, None),
        (TRACEPARENT + "\n", None, None),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1", None, None),
        ("01" + TRACEPARENT[2:], None, None),
        ("00-" + "0" * 32 + "-b7ad6b7169203331-01", None, None),
        ("00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01", None, None),
        ("00-\u0660af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None, None),
    ],
)
def test_from_headers(
    traceparent: str | None, tracestate: str | None, context: dict[str, str] | None
) -> None:
    assert from_headers(traceparent, tracestate) == context
