"""The options every ``taskq`` subcommand shares, each written once: ``--database-url`` (and
the database it names), ``--log-level`` and ``--log-format`` (:func:`cli.main.main` sets up
logging with them) and ``--import`` (and the handler modules it imports)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cli.database import resolve_database
from taskq.logs import LOG_FORMATS

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class HandlersNotImported(RuntimeError):
    """A module given with ``--import`` cannot be imported; the message names it and why."""


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL URL or key=value DSN (default: TASKQ_DATABASE_URL, DATABASE_URL, "
        "config.yaml, else the embedded server under .taskq/)",
    )


def database_url(args: argparse.Namespace) -> str:
    """The URL of the database the command's ``--database-url`` (or the configuration) names."""
    return resolve_database(args.database_url).url


def add_log_level_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        type=str.upper,
        default="INFO",
        help="level of the lines logged to stderr (default: INFO)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        type=str.lower,
        default=None,
        help="text: one line a record; json: one JSON object a line, with the task's id, "
        "name, attempt and duration on a worker's task lines (default: TASKQ_LOG_FORMAT, "
        "else text)",
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def seconds_or_zero(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text}")
    return value


def add_worker_options(parser: argparse.ArgumentParser, grace: float) -> None:
    """What a worker takes, where ``taskq worker`` and ``taskq run`` both run one: its queues,
    concurrency, handler modules (``--import``), ``--any-name`` and the grace of a stop."""
    parser.add_argument(
        "--queue",
        "-q",
        dest="queues",
        action="append",
        metavar="NAME",
        help="queue to take tasks from; repeat for several (default: default)",
    )
    parser.add_argument(
        "--concurrency",
        "-c",
        type=positive_int,
        default=4,
        metavar="N",
        help="run at most N tasks at once (default: 4); each queue's own slot limit still holds",
    )
    parser.add_argument(
        "--import",
        "-i",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE to register its @task handlers; repeatable",
    )
    parser.add_argument(
        "--any-name",
        action="store_true",
        help="claim tasks of every name, and fail those without a handler here (no handler "
        "registered for '<name>'); by default only the names of its handlers are claimed",
    )
    parser.add_argument(
        "--grace",
        type=seconds_or_zero,
        default=grace,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long running tasks may take to finish before they are "
        f"cancelled and handed back (default: {grace:g})",
    )


def import_handlers(modules: Sequence[str]) -> None:
    """Import each module so that its ``@task`` handlers register; the working directory first
    on the path, as ``python -m`` would have it. :class:`HandlersNotImported` for one that
    cannot be imported, whatever it raised."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise HandlersNotImported(
                f"cannot import handlers from {module}: {type(error).__name__}: {error}"
            ) from error
