"""``taskq worker``: run a worker."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from taskq.settings import ConfigError, listen_url_setting, prepare_setting, resolve_database
from worker.loop import Worker

DESCRIPTION = "Claim tasks from taskq queues and run their handlers."

EPILOG = """\
Handlers are registered with @task("name") from the worker package, in the modules given with
--import (the working directory is importable). Built-in handlers, always registered: sleep
({"seconds": n}), echo (returns its payload), fail (raises).

The database is --database-url, else TASKQ_DATABASE_URL, DATABASE_URL, config.yaml, or the
embedded server. Behind a connection pooler (PgBouncer in transaction pooling) LISTEN cannot
work: give a direct connection with --listen-url (TASKQ_LISTEN_URL), or the worker notices the
pooler and polls every --poll seconds; TASKQ_PREPARE=auto|on|off sets psycopg's prepared
statements (auto: off behind a detected pooler).

SIGTERM or SIGINT: stop claiming, let running tasks finish within --grace seconds, then hand
the rest back (QUEUED again, the attempt not counted) and exit 0; a second signal skips what is
left of the grace period.

example: taskq worker --import myapp.tasks --queue default --queue emails --concurrency 8
"""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


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
        "--only-registered",
        action="store_true",
        help="claim only tasks whose name has a handler here (for pools of specialised "
        "workers); by default any task is claimed and one without a handler fails",
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


def setup_logging(level: str, line_format: str) -> None:
    """Log lines to stderr. The records skip what no taskq format prints (the calling file and
    line, the thread): a line per task start and finish stays cheap under load (the logging
    HOWTO's "Optimization" section)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=level, format=line_format, stream=sys.stderr)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, LOG_FORMAT)
    log = logging.getLogger("taskq.worker")
    try:
        import_handlers(args.imports)
    except Exception as error:
        log.error("cannot import handlers: %s: %s", type(error).__name__, error)
        return 2

    try:
        url = args.database_url or resolve_database().url
        prepare = prepare_setting()
        listen_url = args.listen_url or listen_url_setting()
    except ConfigError as error:
        log.error("%s", error)
        return 2
    worker = Worker(
        url,
        queues=args.queues or ["default"],
        concurrency=args.concurrency,
        only_registered=args.only_registered,
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


async def _serve(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        logging.getLogger("taskq.worker").info(
            "%s received%s", signal.Signals(signum).name, "" if signals_seen == 1 else " again"
        )
        worker.stop(force=signals_seen > 1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await worker.run()
