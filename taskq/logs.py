"""One log format for every taskq process (``taskq run``, ``taskq api``, ``taskq worker``),
uvicorn's and Litestar's loggers included: they propagate to the root logger set up here."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


def setup_logging(level: str) -> None:
    """Log lines to stderr. The records skip what the format does not print (the calling file
    and line, the thread): a line per task start and finish stays cheap under load (the logging
    HOWTO's "Optimization" section)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)
