# mypy: allow-untyped-decorators
"""PgQueuer's side of the bench; runs with the peers' Python (bench/.peers-venv), not taskq's.

``create`` is the factory PgQueuer's worker runs: it registers two entrypoints, ``noop`` and
``stamp`` (writes the time its handler started to the file named by BENCH_STAMPS). ``pgq run
peer_pgqueuer:create`` would run it, but the CLI of PgQueuer 1.6.0 fails before it starts (its
``--log-level`` parser hands a str where an enum is used), so ``worker`` runs it the same way
through PgQueuer's own API (``pgqueuer.run``, on uvloop as the CLI does). As a script it also
enqueues, with PgQueuer's own API over asyncpg::

    python peer_pgqueuer.py worker DSN BATCH_SIZE  # the worker, until SIGTERM
    python peer_pgqueuer.py single DSN COUNT     # COUNT enqueues of one job: {"seconds": s}
    python peer_pgqueuer.py batch DSN COUNT SIZE # COUNT enqueues of SIZE jobs: {"seconds": s}
    python peer_pgqueuer.py bulk DSN COUNT       # COUNT jobs in one call: {"committed": t}
    python peer_pgqueuer.py latency DSN SAMPLES GAP  # stamp jobs one at a time: {id: sent}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-not-found]
from pgqueuer import PgQueuer, Queries  # type: ignore[import-not-found]
from pgqueuer.db import AsyncpgDriver  # type: ignore[import-not-found]
from pgqueuer.models import Job  # type: ignore[import-not-found]

APPLICATION = "bench-pgqueuer"


@asynccontextmanager
async def create() -> AsyncIterator[Any]:
    """The worker: one asyncpg connection, as PgQueuer's documentation sets it up."""
    connection = await asyncpg.connect(
        os.environ["BENCH_DSN"], server_settings={"application_name": APPLICATION}
    )
    stamps = os.environ.get("BENCH_STAMPS", os.devnull)
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    @pgq.entrypoint("stamp")
    async def stamp(job: Job) -> None:
        started = time.time()
        with open(stamps, "a") as out:  # noqa: ASYNC230 - a few bytes, after the timestamp
            out.write(f"{job.id} {started}\n")

    try:
        yield pgq
    finally:
        await connection.close()


async def _queries(dsn: str) -> tuple[Any, Queries]:
    connection = await asyncpg.connect(dsn)
    return connection, Queries(AsyncpgDriver(connection))


async def single(dsn: str, count: int) -> dict[str, float]:
    connection, queries = await _queries(dsn)
    try:
        for _ in range(20):
            await queries.enqueue("noop", None)
        started = time.perf_counter()
        for _ in range(count):
            await queries.enqueue("noop", None)
        return {"seconds": time.perf_counter() - started}
    finally:
        await connection.close()


async def batch(dsn: str, count: int, size: int) -> dict[str, float]:
    connection, queries = await _queries(dsn)
    try:
        names, payloads, priorities = ["noop"] * size, [None] * size, [0] * size
        await queries.enqueue(names, payloads, priorities)
        started = time.perf_counter()
        for _ in range(count):
            ids = await queries.enqueue(names, payloads, priorities)
            assert len(ids) == size
        return {"seconds": time.perf_counter() - started}
    finally:
        await connection.close()


async def bulk(dsn: str, count: int, name: str = "noop") -> dict[str, float]:
    connection, queries = await _queries(dsn)
    try:
        await queries.enqueue([name] * count, [None] * count, [0] * count)
        return {"committed": time.time()}
    finally:
        await connection.close()


async def latency(dsn: str, samples: int, gap: float) -> dict[str, float]:
    connection, queries = await _queries(dsn)
    sent: dict[str, float] = {}
    try:
        for _ in range(5):  # warm-up, not counted
            await queries.enqueue("stamp", None)
            await asyncio.sleep(gap)
        await asyncio.sleep(0.2)
        for _ in range(samples):
            before = time.time()
            (job_id,) = await queries.enqueue("stamp", None)
            sent[str(job_id)] = before
            await asyncio.sleep(gap)
        return sent
    finally:
        await connection.close()


def worker(batch_size: int) -> None:
    import pgqueuer
    from pgqueuer.adapters.cli.cli import asyncio_run  # type: ignore[import-not-found]

    asyncio_run(pgqueuer.run(create, batch_size=batch_size))


def main(argv: list[str]) -> int:
    command, dsn, *rest = argv
    if command == "worker":
        worker(int(rest[0]))
        return 0
    if command == "single":
        result = asyncio.run(single(dsn, int(rest[0])))
    elif command == "batch":
        result = asyncio.run(batch(dsn, int(rest[0]), int(rest[1])))
    elif command == "bulk":
        result = asyncio.run(bulk(dsn, int(rest[0]), *rest[1:]))
    elif command == "latency":
        result = asyncio.run(latency(dsn, int(rest[0]), float(rest[1])))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
