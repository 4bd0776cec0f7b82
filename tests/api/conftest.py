"""Fixtures of the API tests: the app in-process on a fresh database, and helpers for states.

``api`` is Litestar's async test client around ``create_app(database_url)`` (the lifespan runs,
so the pool is real). ``db`` is a second, direct connection for putting tasks into the states
a test needs (RUNNING, COMPLETED, FAILED) through the same typed client the worker uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg import sql
from psycopg.conninfo import make_conninfo

from api import create_app
from taskq import client
from tests.conftest import PgServer
from tests.processes import terminate

ROOT = Path(__file__).resolve().parents[2]
Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(database_url: str) -> Litestar:
    return create_app(database_url, pool_timeout=1.0)


@pytest.fixture
async def api(app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[client.Connection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


async def start_task(db: client.Connection, task_id: UUID) -> client.Task:
    """Claim ``task_id`` (it must be the only due task) as a worker would: RUNNING."""
    worker = await client.register_worker(db, "api-tests")
    claimed = await client.claim_next(db, worker)
    assert [task.id for task in claimed] == [task_id]
    return claimed[0]


async def finish_task(db: client.Connection, task_id: UUID, *, result: Any = None) -> None:
    """Run ``task_id`` to COMPLETED."""
    task = await start_task(db, task_id)
    assert task.lease_token is not None
    await client.complete(db, task.id, task.lease_token, result)


async def fail_task(db: client.Connection, task_id: UUID) -> None:
    """Run ``task_id`` (made with max_attempts=1) to FAILED."""
    task = await start_task(db, task_id)
    assert task.lease_token is not None
    failed = await client.fail(db, task.id, task.lease_token, "boom")
    assert failed.status == "FAILED"


@contextmanager
def login_as_member_of(
    pg_server: PgServer, database_url: str, role: str, member_of: str
) -> Iterator[str]:
    """``database_url`` for a new login ``role``, a member of ``member_of`` only; dropped after."""
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                sql.Identifier(role), sql.Identifier(member_of)
            )
        )
    try:
        yield make_conninfo(database_url, user=role)
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- a real server in a subprocess ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_environment() -> dict[str, str]:
    """The test run's environment, less what would change which database or token is used."""
    unset = {
        "TASKQ_API_TOKEN",
        "TASKQ_API_TOKENS",
        "TASKQ_DATABASE_URL",
        "DATABASE_URL",
        "TASKQ_PREPARE",
    }
    return {key: value for key, value in os.environ.items() if key not in unset}


class Server:
    """``taskq api`` started as a subprocess on a free port."""

    def __init__(self, database_url: str | None, env: dict[str, str] | None = None) -> None:
        """With ``database_url`` None, ``taskq api`` finds the database itself (``env``)."""
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "cli", "api", "--port", str(self.port)]
        command += ["--log-level", "warning"]
        if database_url is not None:
            command += ["--database-url", database_url]
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"taskq-api-{self.port}.log"
        self._log_file = self.log.open("wb")
        self._output: str | None = None
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**_clean_environment(), **(env or {})},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"taskq api exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"taskq api did not answer in {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        """Stop it; its output is kept in memory (:meth:`output`) and the log file removed, so
        that no run leaves files behind in the temporary folder."""
        terminate(self.process)
        self._log_file.close()
        if self._output is None:
            self._output = self.log.read_text(errors="replace")
            self.log.unlink(missing_ok=True)

    def output(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        return self._output if self._output is not None else self.log.read_text(errors="replace")


def _create_database(pg_server: PgServer, template: str, name: str) -> str:
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    return pg_server.url(name)


def _drop_database(pg_server: PgServer, name: str) -> None:
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def module_database_url(pg_server: PgServer, template_db: str) -> Iterator[str]:
    """A fresh database shared by one module's tests (for a server that lives that long)."""
    name = f"taskq_api_{os.getpid()}_{time.monotonic_ns()}"
    url = _create_database(pg_server, template_db, name)
    try:
        yield url
    finally:
        _drop_database(pg_server, name)


@pytest.fixture(scope="module")
def server(module_database_url: str) -> Iterator[Server]:
    """``taskq api`` over real HTTP, shared by one module's tests."""
    process = Server(module_database_url)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
