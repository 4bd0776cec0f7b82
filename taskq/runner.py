"""``taskq run``: the one-command start (database, schema, API and a worker)."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Start taskq: find or start the database, deploy the schema, serve the API with a worker."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def run(args: argparse.Namespace) -> int:
    raise SystemExit("not yet")
