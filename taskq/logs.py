"""One log format for every taskq process (``taskq run``, ``taskq api``, ``taskq worker``),
uvicorn's and Litestar's loggers included: they propagate to the root logger set up here.

Two formats (``--log-format``, else ``TASKQ_LOG_FORMAT``): ``text`` (the default), one line
``time LEVEL logger[pid]: message``; and ``json``, one JSON object a line for a log shipper:
``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, then the fields of
:data:`TASK_FIELDS` a record carries (the worker's lines of one task: ``task_id``,
``task_name``, ``attempt``, ``worker``, and ``duration`` in seconds on the line of its outcome),
and ``traceback`` when the record has an exception.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Literal

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
#: what a record may carry in ``extra=`` that the JSON format shows, in this order
TASK_FIELDS = ("task_id", "task_name", "attempt", "duration", "worker")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (see the module). Values JSON lacks (a UUID) are strings."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for field in TASK_FIELDS:
            if field in fields:
                line[field] = fields[field]
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log lines to stderr, in ``log_format``. The records skip what neither format prints (the
    calling file and line, the thread): a line per task start and finish stays cheap under load
    (the logging HOWTO's "Optimization" section)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)
