# mypy: allow-untyped-decorators
"""Procrastinate's side of the bench; runs with the peers' Python (bench/.peers-venv).

``app`` is the Procrastinate app for its own CLI (``procrastinate --app=peer_procrastinate.app
worker``, from the bench folder), with one task, ``noop``, on queue ``bench``. As a script it
enqueues (defers) with Procrastinate's own API::

    python peer_procrastinate.py single DSN COUNT      # {"seconds": s}
    python peer_procrastinate.py batch DSN COUNT SIZE  # batch_defer_async of SIZE jobs
    python peer_procrastinate.py bulk DSN COUNT        # COUNT jobs in one call: {"committed": t}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import procrastinate  # type: ignore[import-not-found]

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=os.environ.get("BENCH_DSN", ""),
        kwargs={"application_name": "bench-procrastinate"},
        # psycopg's pool holds 4 connections by default: give each concurrent job one
        min_size=2,
        max_size=int(os.environ.get("BENCH_POOL_SIZE", "10")),
    )
)


@app.task(name="noop", queue="bench")
async def noop() -> None:
    return None


async def single(count: int) -> dict[str, float]:
    async with app.open_async():
        for _ in range(20):
            await noop.defer_async()
        started = time.perf_counter()
        for _ in range(count):
            await noop.defer_async()
        return {"seconds": time.perf_counter() - started}


async def batch(count: int, size: int) -> dict[str, float]:
    jobs: list[dict[str, Any]] = [{} for _ in range(size)]
    async with app.open_async():
        await noop.batch_defer_async(*jobs)
        started = time.perf_counter()
        for _ in range(count):
            ids = await noop.batch_defer_async(*jobs)
            assert len(ids) == size
        return {"seconds": time.perf_counter() - started}


async def bulk(count: int) -> dict[str, float]:
    async with app.open_async():
        await noop.batch_defer_async(*[{} for _ in range(count)])
        return {"committed": time.time()}


def main(argv: list[str]) -> int:
    command, _dsn, *rest = argv  # the DSN is read from BENCH_DSN, as the worker reads it
    if command == "single":
        result = asyncio.run(single(int(rest[0])))
    elif command == "batch":
        result = asyncio.run(batch(int(rest[0]), int(rest[1])))
    elif command == "bulk":
        result = asyncio.run(bulk(int(rest[0])))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
