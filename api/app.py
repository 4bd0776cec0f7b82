"""The Litestar app: routes, the pool's lifespan, bearer auth, problem details, offline docs.

``create_app(database_url, api_tokens=...)`` builds it; tests build it in-process, ``taskq api``
serves it with uvicorn.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from litestar import Litestar
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server, Tag
from litestar.static_files import create_static_files_router

import taskq
from api.auth import SINGLE_TOKEN_NAME, bearer_guard
from api.bodies import MAX_BODY_DEPTH, check_body
from api.controllers import (
    AuditController,
    HealthController,
    LegacyTaskController,
    MetricsController,
    QueueController,
    ScheduleController,
    TableHealthController,
    TaskController,
    ThroughputController,
    WorkerController,
)
from api.dashboard import dashboard_router
from api.deps import Database, provide_actor, provide_connection, provide_database
from api.errors import EXCEPTION_HANDLERS
from api.openapi import ClosedStructSchemaPlugin
from taskq.pool import make_pool
from taskq.settings import Prepare

MAX_BODY_SIZE: Final = 1024 * 1024
POOL_TIMEOUT: Final = 3.0
DOCS_PATH: Final = "/docs"
ASSETS_PATH: Final = "/docs/assets"

DESCRIPTION = f"""\
taskq is a task queue that lives in PostgreSQL. Every route is one call of a `taskq.*` SQL
function; the same operations are a `SELECT` away from psql or any language.

Errors are `application/problem+json` (RFC 9457): 400 names the bad field in
`invalid_params`, 404 and 409 name the task (and its status), 413 is a body over the size
limit, 415 a body not sent as `Content-Type: application/json` (or `application/*+json`),
503 means the database cannot be reached. A body nested deeper than {MAX_BODY_DEPTH} levels of
arrays and objects is 400. Times are ISO 8601 with an offset; a `scheduled_at` without one is
UTC.

Lists of tasks leave out `payload` and `result` unless `include` asks for them;
`GET /api/tasks/{{task_uuid}}` answers the whole task.

Every admin act (pause, resume, cancel, retry, a queue's change, a schedule made or removed) takes
an optional `reason` and writes a row of the audit trail (`GET /api/audit`) naming the token's
holder as its actor.
"""


def swagger_ui_dir() -> Path:
    """Where the ``swagger-ui-bundle-v2`` package keeps Swagger UI's built files."""
    bundle = importlib.import_module("swagger_ui_bundle")
    return Path(str(bundle.swagger_ui_path))


def _openapi_config(secured: bool) -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    components = Components(
        security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        if secured
        else None
    )
    return OpenAPIConfig(
        title="taskq",
        version=taskq.__version__,
        description=DESCRIPTION,
        path=DOCS_PATH,
        render_plugins=[swagger],
        servers=[Server(url="/")],
        components=components,
        security=[{"bearer": []}] if secured else None,
        tags=[
            Tag(name="tasks", description="Enqueue and manage tasks"),
            Tag(name="queues", description="Queue settings and counts"),
            Tag(name="schedules", description="Periodic tasks: cron schedules and their next run"),
            Tag(name="audit", description="The audit trail of admin acts"),
            Tag(name="workers", description="The registered workers, alive or presumed dead"),
            Tag(name="older API", description="The routes of the older API, kept as they were"),
            Tag(name="health", description="Liveness of the API and its database"),
            Tag(name="metrics", description="Prometheus metrics of the queues and workers"),
        ],
    )


def create_app(
    database_url: str,
    *,
    api_token: str | None = None,
    api_tokens: Mapping[str, str] | None = None,
    pool_timeout: float = POOL_TIMEOUT,
    pool_min_size: int = 1,
    pool_max_size: int = 10,
    max_body_size: int = MAX_BODY_SIZE,
    debug: bool = False,
    prepare: Prepare | None = None,
) -> Litestar:
    """The API on ``database_url``. With ``api_tokens`` (``{name: token}``) or ``api_token``
    (named ``api``), every route but /health wants one of them, and the audit trail records
    its name as the actor of each admin act.
    ``prepare`` is the pool's prepare policy (None: ``TASKQ_PREPARE``)."""

    @asynccontextmanager
    async def open_pool(app: Litestar) -> AsyncIterator[None]:
        pool = make_pool(
            database_url,
            min_size=pool_min_size,
            max_size=pool_max_size,
            name="taskq-api",
            prepare=prepare,
        )
        # wait=False: the API starts (and /health answers 503) while the database is down.
        await pool.open(wait=False)
        app.state.database = Database(pool=pool, timeout=pool_timeout)
        try:
            yield
        finally:
            await pool.close(timeout=5)

    tokens = dict(api_tokens or {})
    if api_token:
        tokens.setdefault(SINGLE_TOKEN_NAME, api_token)
    assets = create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_dir()],
        include_in_schema=False,
        name="swagger-ui-assets",
    )
    return Litestar(
        route_handlers=[
            TaskController,
            QueueController,
            ScheduleController,
            AuditController,
            WorkerController,
            ThroughputController,
            LegacyTaskController,
            HealthController,
            TableHealthController,
            MetricsController,
            assets,
            dashboard_router(),
        ],
        lifespan=[open_pool],
        before_request=check_body,
        dependencies={
            "conn": Provide(provide_connection),
            "database": Provide(provide_database, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        guards=[bearer_guard(tokens)] if tokens else [],
        openapi_config=_openapi_config(secured=bool(tokens)),
        plugins=[ClosedStructSchemaPlugin()],
        request_max_body_size=max_body_size,
        debug=debug,
        # Litestar's logger writes through the root logger, which the process sets up: one
        # log format in every taskq process.
        logging_config=LoggingConfig(
            configure_root_logger=False, loggers={"litestar": {"level": "INFO", "propagate": True}}
        ),
    )
