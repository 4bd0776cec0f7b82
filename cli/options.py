"""The options every ``taskq`` subcommand shares, each written once: ``--database-url`` (and
the database it names), ``--log-level`` and ``--log-format`` (:func:`cli.main.main` sets up
logging with them), ``--import`` (and the handler modules it imports) and a worker's
``--metrics-port``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cli.database import resolve_database
from taskq.logs import LOG_FORMATS
from taskq.settings import ConfigError, event_loop_setting

if TYPE_CHECKING:
    from worker.metrics import WorkerMetrics

T = TypeVar("T")

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


#: the first threshold of Python's cyclic garbage collector in taskq's worker processes (Python's
#: default is 700): a worker makes and drops a few dozen objects a task, and with the default a
#: collection ran every 20 or so tasks, a sixth of the worker's time at 5,000 tasks a second
GC_FIRST_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """For a process that runs a worker, once its handlers are imported: the objects alive now
    (modules, handlers, settings) go to the collector's permanent generation (``gc.freeze``),
    so that no collection walks them again, and the youngest generation is collected every
    ``GC_FIRST_THRESHOLD`` allocations instead of every 700. Cycles are still collected, after
    more allocations: a cycle a handler leaves (an exception and its traceback's frames, say)
    and what it holds are freed later, on a worker that makes few objects much later; the
    memory of a worker after 100,000 tasks is in ``make bench``. (:class:`worker.Worker` run
    in an application's own process leaves its collector alone.)"""
    gc.collect()  # what the start left as garbage is freed, not frozen
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_FIRST_THRESHOLD, second, third)


def run_on_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop ``TASKQ_EVENT_LOOP`` names: uvloop by default, where it
    is installed: a worker's drain of no-op tasks ran 6 % faster on an unlimited queue and 17 %
    on a 200-slot queue, with 11 % less of the worker's CPU (the README's Architecture). The
    command reads the setting at its start too, where a bad value is refused in one line."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if event_loop_setting() == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


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


def port_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {value}")
    return value


def add_metrics_options(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port`` and ``--metrics-host``: where the worker serves its Prometheus
    metrics (nothing is served, nor observed, without a port)."""
    parser.add_argument(
        "--metrics-port",
        type=port_number,
        metavar="PORT",
        help="serve the worker's Prometheus metrics (handler durations, claims, reports, "
        "reconnects) on this port, at /metrics; off by default",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the worker's metrics endpoint, which wants no token (default: "
        "127.0.0.1; 0.0.0.0 for a Prometheus on another host or container)",
    )


@contextlib.contextmanager
def worker_metrics(args: argparse.Namespace) -> Iterator[WorkerMetrics | None]:
    """The worker's metrics, served on ``--metrics-host``:``--metrics-port`` while the block
    runs; None without a port. :class:`ConfigError` when the port cannot be had."""
    if args.metrics_port is None:
        yield None
        return
    from worker.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    try:
        server = metrics.serve(args.metrics_host, args.metrics_port)
    except OSError as error:
        # a port taken or privileged is the port's fault; a name or address that is not this
        # machine's, the host's
        port = error.errno in (errno.EADDRINUSE, errno.EACCES)
        raise ConfigError(
            f"cannot serve the worker's metrics on {args.metrics_host}:{args.metrics_port}: "
            f"{error.strerror or error}; "
            + ("pick another --metrics-port" if port else "check --metrics-host")
        ) from None
    try:
        yield metrics
    finally:
        server.shutdown()
        server.server_close()
