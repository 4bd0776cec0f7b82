"""``taskq worker``: run a worker."""

from __future__ import annotations

import argparse

DESCRIPTION = "Claim tasks from taskq queues and run their handlers."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", action="append", help="queue to take tasks from (repeatable)")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("taskq worker is not available yet")
