"""`taskq api` behind PgBouncer in transaction pooling, over real HTTP.

Each transaction of a client may run on another server connection there, so a statement
prepared on one connection is missing (or already taken) on the next; the API must not prepare
statements behind it, whether it detects the pooler or is told so (``TASKQ_PREPARE=off``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from tests.api.conftest import Server
from tests.conftest import database_name
from tests.pgbouncer import PgBouncer

CONCURRENT = 100


async def _mixed_requests(
    http: httpx.AsyncClient, round_: int, task_id: str
) -> list[httpx.Response]:
    """CONCURRENT requests at once: creates, reads, lists, queue changes and health checks."""
    calls = []
    for i in range(CONCURRENT):
        match i % 6:
            case 0:
                calls.append(http.post("/api/tasks/", json={"name": f"t{round_}-{i}"}))
            case 1:
                calls.append(http.get(f"/api/tasks/{task_id}"))
            case 2:
                calls.append(http.get("/api/tasks", params={"queue": "pooled", "limit": 5}))
            case 3:
                calls.append(http.get("/api/queues"))
            case 4:
                calls.append(http.patch("/api/queues/pooled", json={"concurrency": 2 + i % 3}))
            case _:
                calls.append(http.get("/health"))
    return list(await asyncio.gather(*calls))


@pytest.mark.parametrize(
    "env", [{}, {"TASKQ_PREPARE": "off"}], ids=["detected", "TASKQ_PREPARE=off"]
)
async def test_the_api_behind_pgbouncer_answers_no_5xx_under_concurrent_requests(
    pooled_database_url: str, env: dict[str, str]
) -> None:
    server = Server(pooled_database_url, env=env)
    try:
        server.wait_ready()
        # kept alive for less than uvicorn's 5 s: a connection the server closes as the client
        # sends on it is a ReadError of the client's pool, not an answer of the API
        limits = httpx.Limits(max_connections=CONCURRENT, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http:
            seed = await http.post("/api/tasks/", json={"name": "seed", "queue": "pooled"})
            assert seed.status_code == 201, seed.text
            answers: list[httpx.Response] = []
            # several rounds: each pooled connection runs each statement well past psycopg's
            # prepare threshold (5 executions)
            for round_ in range(3):
                answers += await _mixed_requests(http, round_, seed.json()["id"])
    finally:
        server.stop()
    codes = Counter(answer.status_code for answer in answers)
    failures = [a.text for a in answers if a.status_code >= 500][:3]
    assert set(codes) <= {200, 201}, (codes, failures, server.output()[-3000:])
    assert sum(codes.values()) == 3 * CONCURRENT


async def test_health_behind_a_paused_pgbouncer_answers_503_in_bounded_time(
    pooled_database_url: str, database_url: str, pgbouncer: PgBouncer
) -> None:
    # A paused database in PgBouncer stands for a server gone behind it: the API's connection
    # to PgBouncer stays open, and its queries wait in PgBouncer's queue (query_wait_timeout,
    # 120 s by default) instead of failing.
    app = create_app(pooled_database_url, pool_timeout=1.0)
    async with AsyncTestClient(app=app) as api:
        assert (await api.get("/health")).status_code == 200
        await asyncio.sleep(1.2)  # the pooled connection is now checked before it is handed out
        database = database_name(database_url)
        pgbouncer.admin(f"PAUSE {database}")
        started = time.monotonic()
        try:
            answer = await api.get("/health")
        finally:
            pgbouncer.admin(f"RESUME {database}")
        # far below PgBouncer's 120 s (the bound is the pool timeout, plus psycopg's wait
        # for the cancelled check)
        assert time.monotonic() - started < 60
        assert answer.status_code == 503
        assert answer.json()["database"] == "down"
        assert (await api.get("/health")).status_code == 200
