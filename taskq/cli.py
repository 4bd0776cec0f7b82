"""The ``taskq`` command: one command, a subcommand per job, ``--help`` everywhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from api import cli as api_cli
    from worker import cli as worker_cli

    parser = argparse.ArgumentParser(
        prog="taskq",
        description="taskq: a task queue that lives in PostgreSQL.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    worker_parser = commands.add_parser(
        "worker", help="run a worker: claim tasks, run handlers", description=worker_cli.DESCRIPTION
    )
    worker_cli.add_arguments(worker_parser)
    worker_parser.set_defaults(handler=worker_cli.run)

    api_parser = commands.add_parser(
        "api", help="serve the REST API with uvicorn", description=api_cli.DESCRIPTION
    )
    api_cli.add_arguments(api_parser)
    api_parser.set_defaults(handler=api_cli.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
