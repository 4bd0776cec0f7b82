"""``taskq api``: serve the REST API."""

from __future__ import annotations

import argparse

DESCRIPTION = "Serve the taskq REST API (docs at /docs)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("taskq api is not available yet")
