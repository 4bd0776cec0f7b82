"""``taskq run``: the one-command start.

It finds the database (``TASKQ_DATABASE_URL``, ``DATABASE_URL``, ``config.yaml``, else the
embedded PostgreSQL under ``.taskq/``), deploys the schema with ``sqitch deploy --verify``
(nothing to do when it is current), then serves the API and runs one worker in this process (on
the embedded server they log in as ``taskq_api_login`` and ``taskq_worker_login``, members of the
taskq roles each needs).
SIGINT/SIGTERM stop the worker gracefully, then the API, then the embedded server; a repeated
SIGTERM changes nothing, a second SIGINT (Ctrl-C) skips what is left of the grace period. A second
``taskq run`` on the same ``.taskq/`` folder says so and exits instead of sharing the data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import uvicorn

from cli.options import (
    add_database_option,
    add_log_level_option,
    add_metrics_options,
    add_worker_options,
    import_handlers,
    run_on_event_loop,
    tune_garbage_collector,
    worker_metrics,
)
from cli.signals import handle_stop_signals
from taskq import migrate
from taskq.embedded import API_LOGIN, WORKER_LOGIN, ensure_embedded, ensure_run_logins
from taskq.errors import TaskqError, Unavailable
from taskq.pgserver import LocalServer
from taskq.settings import (
    ConfigError,
    DatabaseSource,
    check_database,
    configured_database,
    embedded_home,
    event_loop_setting,
    listen_url_setting,
    maintenance_interval_setting,
    prepare_setting,
)

if TYPE_CHECKING:
    from worker.metrics import WorkerMetrics

DESCRIPTION = (
    "Start taskq in one command: find or start the database (TASKQ_DATABASE_URL, DATABASE_URL, "
    "config.yaml, else an embedded PostgreSQL kept under .taskq/), deploy the schema with "
    "sqitch deploy --verify, and serve the REST API with one worker. Ctrl-C stops it cleanly."
)
log = logging.getLogger("taskq.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the API (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port of the API (default: 8000)")
    add_worker_options(parser, grace=10.0)
    add_database_option(parser)
    add_log_level_option(parser)
    add_metrics_options(parser)


@contextlib.contextmanager
def exclusive_run(home: Path) -> Iterator[None]:
    """Hold ``.taskq/run.lock`` for as long as this ``taskq run`` lives."""
    home.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = (home / "run.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise TaskqError(
            f"taskq run is already running with the data in {home} (pid {owner})"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise TaskqError(
                f"cannot serve on {host}:{port}: {error.strerror}; pick another --port"
            ) from None


def check_reachable(source: DatabaseSource) -> None:
    problem = check_database(source)
    if problem is not None:
        raise Unavailable(f"cannot connect to the database from {source.origin}: {problem}")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: ``taskq run`` stops the worker first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(
    args: argparse.Namespace,
    api_url: str,
    worker_url: str,
    banner: str,
    metrics: WorkerMetrics | None = None,
) -> None:
    from api.app import create_app
    from api.auth import tokens_from_env
    from worker import Worker

    prepare = prepare_setting()
    app = create_app(api_url, api_tokens=tokens_from_env(), prepare=prepare)
    server = _Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", log_config=None)
    )
    worker = Worker(
        worker_url,
        queues=args.queues or ["default"],
        concurrency=args.concurrency,
        any_name=args.any_name,
        grace=args.grace,
        listen_url=listen_url_setting(),
        prepare=prepare,
        maintenance_interval=maintenance_interval_setting(),
        metrics=metrics,
    )

    # A second Ctrl-C skips the worker's grace; the API then stops as usual, its lifespan
    # closing the pool (uvicorn's force_exit would cancel that and log a traceback).
    handle_stop_signals(
        lambda force: worker.stop(force=force), log, " (the worker first, then the API)"
    )

    api_task = asyncio.create_task(server.serve(), name="api")
    worker_task = asyncio.create_task(worker.run(), name="worker")
    while not server.started and not api_task.done():  # noqa: ASYNC110 - uvicorn sets a flag, no event
        await asyncio.sleep(0.05)
    if api_task.done():
        worker.stop(force=True)
        await asyncio.gather(worker_task, return_exceptions=True)
        api_task.result()
        raise TaskqError(f"the API did not start on {args.host}:{args.port}")
    print(banner, flush=True)
    await asyncio.wait({worker_task, api_task}, return_when=asyncio.FIRST_COMPLETED)
    worker.stop()
    await asyncio.gather(worker_task, return_exceptions=True)
    server.should_exit = True
    await api_task


def _banner(args: argparse.Namespace, source: DatabaseSource) -> str:
    host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "localhost") else args.host  # noqa: S104
    base = f"http://{host}:{args.port}"
    return "\n".join(
        [
            "taskq is running",
            f"  API      {base}/api/tasks/",
            f"  docs     {base}/docs",
            f"  metrics  {base}/metrics",
            f"  database {source.origin}",
            f"  psql     psql '{source.url}'",
            "Ctrl-C stops the worker, the API and the embedded database.",
        ]
    )


def run(args: argparse.Namespace) -> int:
    import_handlers(args.imports)
    check_port_free(args.host, args.port)
    # refused in one line before anything starts; serve reads them again
    from api.auth import tokens_from_env

    prepare_setting()
    listen_url_setting()
    maintenance_interval_setting()
    event_loop_setting()
    tokens_from_env()
    if args.metrics_port == args.port:
        raise ConfigError(f"--metrics-port must differ from --port ({args.port}), the API's")
    with worker_metrics(args) as metrics:
        return _start(args, metrics)


def _start(args: argparse.Namespace, metrics: WorkerMetrics | None) -> int:
    configured = configured_database(args.database_url)
    if configured is not None:
        check_reachable(configured)
        return _run_on(args, configured, metrics)
    home = embedded_home()
    with exclusive_run(home):
        log.info("starting the embedded PostgreSQL in %s", home)
        server, source, _ = ensure_embedded(home)
        try:
            return _run_on(args, source, metrics)
        finally:
            log.info("stopping the embedded PostgreSQL")
            _stop(server)


def _stop(server: LocalServer) -> None:
    try:
        server.stop("fast")
    except Exception as error:  # the process is ending; say so and go on
        log.warning("the embedded PostgreSQL did not stop cleanly: %s", error)


def _run_on(
    args: argparse.Namespace, source: DatabaseSource, metrics: WorkerMetrics | None = None
) -> int:
    """Deploy, then serve: on the embedded server the API and the worker log in as roles of
    their own (taskq.embedded.RUN_LOGINS); a configured database is used as its URL says."""
    output = migrate.deploy(source.url)
    log.info("schema: %s", "up to date" if "Nothing to deploy" in output else "deployed")
    api_url = worker_url = source.url
    if source.embedded:
        logins = ensure_run_logins(source)
        api_url, worker_url = logins[API_LOGIN], logins[WORKER_LOGIN]
    tune_garbage_collector()
    run_on_event_loop(serve(args, api_url, worker_url, _banner(args, source), metrics))
    return 0
