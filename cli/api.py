"""``taskq api``: serve the REST API with uvicorn."""

from __future__ import annotations

import argparse
import logging

from cli.database import database_at_start
from cli.options import add_database_option, add_log_level_option
from taskq.settings import ConfigError, prepare_setting

DESCRIPTION = (
    "Serve the taskq REST API (docs at /docs). The database is --database-url, else "
    "TASKQ_DATABASE_URL / DATABASE_URL, else config.yaml, else the embedded server. "
    "When TASKQ_API_TOKENS (name=token,...) or TASKQ_API_TOKEN is set, every route but /health "
    "wants 'Authorization: Bearer <token>', and the token's name is the actor of its admin acts."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    add_database_option(parser)
    add_log_level_option(parser)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.auth import tokens_from_env

    log = logging.getLogger("taskq.api")
    try:
        prepare = prepare_setting()
        tokens = tokens_from_env()
    except ConfigError as error:
        log.error("%s", error)
        return 2
    source = database_at_start(args.database_url, log, "serving; /health answers 503 until it does")
    if source is None:
        return 2
    app = create_app(source.url, api_tokens=tokens, prepare=prepare)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level.lower(), log_config=None
    )
    return 0
