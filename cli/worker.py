"""``taskq worker``: run a worker."""

from __future__ import annotations

import argparse
import logging

from cli.database import database_at_start
from cli.options import (
    HandlersNotImported,
    add_database_option,
    add_log_level_option,
    add_metrics_options,
    add_worker_options,
    import_handlers,
    run_on_event_loop,
    seconds,
    tune_garbage_collector,
    worker_metrics,
)
from cli.signals import handle_stop_signals
from taskq.settings import (
    ConfigError,
    event_loop_setting,
    listen_url_setting,
    maintenance_interval_setting,
    prepare_setting,
)
from worker import Worker

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

Every TASKQ_MAINTENANCE_INTERVAL seconds or so (default 60; 0: never) the worker takes its turn
at taskq.maintain: dead workers removed, their tasks rescued, finished tasks past their queue's
retention pruned; one worker at a time does it, the others' turns return at once.

--metrics-port PORT serves the worker's Prometheus metrics at http://127.0.0.1:PORT/metrics
(--metrics-host to listen elsewhere): handler durations by task name and outcome, claims,
reports, reconnects, running tasks. The queues' figures are the API's /metrics.

SIGTERM or SIGINT: stop claiming, let running tasks finish within --grace seconds, then hand
the rest back (QUEUED again, the attempt not counted) and exit 0. A repeated SIGTERM changes
nothing; a second SIGINT (Ctrl-C again) skips what is left of the grace period.

example: taskq worker --import myapp.tasks --queue default --queue emails --concurrency 8
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_worker_options(parser, grace=30.0)
    parser.add_argument(
        "--lease",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="lease of a claimed task, renewed by a heartbeat every third of it; a task whose "
        "worker stops heartbeating is rescued after it (default: 30)",
    )
    parser.add_argument(
        "--poll",
        type=seconds,
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
    add_database_option(parser)
    parser.add_argument(
        "--listen-url",
        metavar="URL",
        help="direct PostgreSQL URL for the LISTEN connection when the database URL goes "
        "through a connection pooler (default: TASKQ_LISTEN_URL, else the database URL)",
    )
    add_log_level_option(parser)
    add_metrics_options(parser)


def run(args: argparse.Namespace) -> int:
    log = logging.getLogger("taskq.worker")
    try:
        import_handlers(args.imports)
    except HandlersNotImported as error:
        log.error("%s", error)
        return 2

    try:
        prepare = prepare_setting()
        listen_url = args.listen_url or listen_url_setting()
        maintenance_interval = maintenance_interval_setting()
        event_loop_setting()
    except ConfigError as error:
        log.error("%s", error)
        return 2
    source = database_at_start(args.database_url, log, "waiting for it")
    if source is None:
        return 2
    try:
        with worker_metrics(args) as metrics:
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
                maintenance_interval=maintenance_interval,
                metrics=metrics,
            )
            tune_garbage_collector()
            run_on_event_loop(_serve(worker))
    except ConfigError as error:
        log.error("%s", error)
        return 2
    except Exception:
        log.exception("the worker crashed")
        return 1
    return 0


async def _serve(worker: Worker) -> None:
    handle_stop_signals(lambda force: worker.stop(force=force), logging.getLogger("taskq.worker"))
    await worker.run()
