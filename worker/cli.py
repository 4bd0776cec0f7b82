"""``taskq worker``: run a worker."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from taskq.logs import setup_logging
from taskq.settings import ConfigError, database_at_start, listen_url_setting, prepare_setting
from worker.loop import Worker

DESCRIPTION = "Claim tasks from taskq queues and run their handlers."

EPILOG = """\
Handlers are registered with @task("name") from the worker package, in the modules given with
--import (the working directory is importable). Built-in handlers, always registered: sleep
({"seconds": n}), echo (returns its payload), fail (raises). The worker claims only the task
names it has handlers for: a task of another name waits QUEUED, its attempts untouched, for a
worker that handles it (taskq.unhandled_tasks lists what waits so); --any-name claims them all.

The database is --database-url, else TASKQ_DATABASE_URL, DATABASE_URL, config.yaml, or the
embedded server. Behind a connection pooler (PgBouncer in transaction pooling) LISTEN cannot
work: give a direct connection with --listen-url (TASKQ_LISTEN_URL), or the worker notices the
pooler and polls every --poll seconds; TASKQ_PREPARE=auto|on|off sets psycopg's prepared
statements (auto: off behind a detected pooler).

SIGTERM or SIGINT: stop claiming, let running tasks finish within --grace seconds, then hand
the rest back (QUEUED again, the attempt not counted) and exit 0. A repeated SIGTERM changes
nothing; a second SIGINT (Ctrl-C again) skips what is left of the grace period.

example: taskq worker --import myapp.tasks --queue default --queue emails --concurrency 8
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _seconds_or_zero(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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
        type=_positive_int,
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
        type=_seconds_or_zero,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long running tasks may take to finish before they are "
        "cancelled and handed back (default: 30)",
    )
    parser.add_argument(
        "--lease",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="lease of a claimed task, renewed by a heartbeat every third of it; a task whose "
        "worker stops heartbeating is rescued after it (default: 30)",
    )
    parser.add_argument(
        "--poll",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="slow poll while idle, in case a notification was lost; new and due tasks wake "
        "the worker at once through LISTEN/NOTIFY and next_due (default: 5); behind a "
        "connection pooler without --listen-url, the only way it finds new tasks",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="the worker's name in taskq.workers (default: HOST:PID)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL URL (default: TASKQ_DATABASE_URL, DATABASE_URL, config.yaml, embedded)",
    )
    parser.add_argument(
        "--listen-url",
        metavar="URL",
        help="direct PostgreSQL URL for the LISTEN connection when the database URL goes "
        "through a connection pooler (default: TASKQ_LISTEN_URL, else the database URL)",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        default="INFO",
        help="log level of the lines written to stderr (default: INFO)",
    )


def import_handlers(modules: Sequence[str]) -> None:
    """Import each module so that its ``@task`` handlers register; the working directory first
    on the path, as ``python -m`` would have it."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    for module in modules:
        importlib.import_module(module)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    log = logging.getLogger("taskq.worker")
    try:
        import_handlers(args.imports)
    except Exception as error:
        log.error("cannot import handlers: %s: %s", type(error).__name__, error)
        return 2

    try:
        prepare = prepare_setting()
        listen_url = args.listen_url or listen_url_setting()
    except ConfigError as error:
        log.error("%s", error)
        return 2
    source = database_at_start(args.database_url, log, "waiting for it")
    if source is None:
        return 2
    worker = Worker(
        source.url,
        queues=args.queues or ["default"],
        concurrency=args.concurrency,
        any_name=args.any_name,
        grace=args.grace,
        lease=args.lease,
        poll=args.poll,
        name=args.name,
        listen_url=listen_url,
        prepare=prepare,
    )
    try:
        asyncio.run(_serve(worker))
    except Exception:
        log.exception("the worker crashed")
        return 1
    return 0


def handle_stop_signals(stop: Callable[[bool], None], log: logging.Logger, what: str = "") -> None:
    """SIGTERM and SIGINT call ``stop(False)``: a graceful stop. A repeated SIGTERM changes
    nothing (``make`` passes its own SIGTERM on to its child, and a kill of the process group
    reaches both, so one request can arrive twice); a SIGINT while stopping, a second Ctrl-C,
    calls ``stop(True)``: skip what is left of the grace period. Call it on the running loop."""
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal(signum: int) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if not stopping:
            stopping = True
            log.info("%s received: stopping%s", name, what)
            stop(False)
        elif signum == signal.SIGINT:
            log.warning("%s received again: not waiting for running tasks any longer", name)
            stop(True)
        else:
            log.info("%s received again: already stopping (a second Ctrl-C does not wait)", name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def _serve(worker: Worker) -> None:
    handle_stop_signals(lambda force: worker.stop(force=force), logging.getLogger("taskq.worker"))
    await worker.run()
