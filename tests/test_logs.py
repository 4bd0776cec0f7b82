"""taskq.logs.JsonFormatter: whatever a record carries, it is one JSON object on one line."""

from __future__ import annotations

import json
import logging
import sys

from taskq.logs import JsonFormatter

# what str.splitlines (and JavaScript before ES2019) take for line ends besides \n and \r,
# and a lone surrogate (a file name decoded with surrogateescape)
AWKWARD = "a\u2028b\u2029c\x85d\x1ce\udcff"


def test_a_record_with_unicode_line_ends_is_one_line_of_utf8() -> None:
    try:
        raise ValueError(AWKWARD)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("tests", logging.ERROR, "", 0, "sent %s", (AWKWARD,), exc_info)
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1, line
    line.encode("utf-8")  # what a UTF-8 stream writes without replacing anything
    parsed = json.loads(line)
    assert parsed["message"] == "sent " + AWKWARD
    assert parsed["traceback"].endswith("ValueError: " + AWKWARD)
