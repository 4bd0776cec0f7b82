"""The ``taskq`` command: one command, a subcommand per job, ``--help`` everywhere.

Every error a person can cause or fix (bad input, a database that does not answer, a broken
config.yaml, a missing Sqitch) is one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version

from cli import admin
from cli import api as api_command
from cli import run as run_command
from cli import top as top_command
from cli import worker as worker_command
from cli.options import HandlersNotImported, add_database_option, database_url
from taskq import migrate
from taskq.errors import TaskqError
from taskq.logs import setup_logging
from taskq.pgserver import ServerError
from taskq.settings import ConfigError, log_format_setting

Handler = Callable[[argparse.Namespace], int]


def cmd_migrate(args: argparse.Namespace) -> int:
    url = database_url(args)
    action = {"deploy": migrate.deploy, "revert": migrate.revert, "status": migrate.status}[
        args.action
    ]
    print(action(url).rstrip())
    return 0


def cmd_psql(args: argparse.Namespace) -> int:
    url = database_url(args)
    psql = shutil.which("psql")
    if psql is None:
        raise TaskqError(f"psql is not installed; the database is at {url}")
    extra = args.psql_args[1:] if args.psql_args[:1] == ["--"] else args.psql_args
    os.execv(psql, [psql, url, *extra])  # noqa: S606 - psql replaces this process, by design
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskq",
        description="taskq: a task queue that lives in PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"taskq {version('taskq')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, command, text in (
        (
            "run",
            run_command,
            "start everything: database, schema, API and a worker on http://localhost:8000",
        ),
        ("api", api_command, "serve the REST API with uvicorn"),
        ("worker", worker_command, "run a worker: claim tasks, run handlers"),
        ("top", top_command, "a live view of the queues and workers (q quits; --once: one frame)"),
    ):
        command_parser = commands.add_parser(name, help=text, description=command.DESCRIPTION)
        command.add_arguments(command_parser)
        command_parser.set_defaults(handler=command.run)

    migrate_parser = commands.add_parser(
        "migrate",
        help="deploy, revert or show the schema with sqitch",
        description="Deploy (sqitch deploy --verify), revert or show the taskq schema's status.",
    )
    migrate_parser.add_argument(
        "action",
        nargs="?",
        default="deploy",
        choices=["deploy", "revert", "status"],
        help="default: deploy",
    )
    add_database_option(migrate_parser)
    migrate_parser.set_defaults(handler=cmd_migrate)

    psql_parser = commands.add_parser(
        "psql",
        help="open psql on the configured database (the embedded one included)",
        description="Open psql on the configured database. Every other argument goes to psql "
        "(taskq psql -c 'SELECT 1'); after --, even -h and --help do.",
        allow_abbrev=False,
    )
    add_database_option(psql_parser)
    psql_parser.set_defaults(handler=cmd_psql)

    admin.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "psql":
        args.psql_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    handler: Handler = args.handler
    try:
        if getattr(args, "log_level", None) is not None:
            setup_logging(args.log_level, args.log_format or log_format_setting())
        return handler(args)
    except (
        TaskqError,
        ConfigError,
        migrate.MigrationError,
        ServerError,
        HandlersNotImported,
    ) as error:
        message = str(error).strip()
        print(f"taskq: {message}", file=sys.stderr)
        return admin.exit_status(error)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
