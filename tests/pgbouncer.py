"""A real PgBouncer in transaction pooling in front of the test server, for the pooler tests.

Debian's ``pgbouncer`` package (installed by ``.ci/run``). It runs on a free port with its
config, log and pid file in a folder of its own, as the unprivileged ``taskq`` user when this
process is root (PgBouncer refuses to run as root), and shares a few server connections
(``default_pool_size``) between all its clients, as a pooler in production does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from taskq.pgserver import _open_path_for, _service_user, free_port
from tests.processes import terminate

# server connections per database and user: far fewer than the clients, so they are shared
POOL_SIZE = 3


def pgbouncer_binary() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    return shutil.which("pgbouncer", path=path)


class PgBouncer:
    """PgBouncer in ``pool_mode = transaction`` forwarding every database to ``upstream_url``'s
    server; :meth:`url` turns a direct URL into the same database through the pooler."""

    def __init__(self, binary: str, upstream_url: str, pool_size: int = POOL_SIZE) -> None:
        self.binary = binary
        self.upstream = conninfo_to_dict(upstream_url)
        self.pool_size = pool_size
        self.port = free_port()
        self.user = _service_user()
        self.folder = Path(tempfile.mkdtemp(prefix="taskq-test-pgbouncer-"))
        self.log_file = self.folder / "pgbouncer.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database_url: str) -> str:
        """``database_url``'s database, reached through this PgBouncer."""
        return make_conninfo(database_url, host="127.0.0.1", port=str(self.port))

    def admin(self, command: str) -> None:
        """One command of PgBouncer's admin console (``PAUSE db``, ``RESUME db``, ...)."""
        console = make_conninfo(self.url(make_conninfo("", **self.upstream)), dbname="pgbouncer")
        with psycopg.connect(console, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            conn.execute(command)

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def _write_config(self) -> Path:
        up = self.upstream
        user = str(up.get("user", "postgres"))
        target = f"host={up.get('host', '127.0.0.1')} port={up.get('port', 5432)}"
        if up.get("password"):
            target += f" user={user} password={up['password']}"
        (self.folder / "userlist.txt").write_text(f'"{user}" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = {target}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            f"admin_users = {user}\n"
            "max_client_conn = 500\n"
            f"logfile = {self.log_file}\n"
            f"pidfile = {self.folder / 'pgbouncer.pid'}\n"
        )
        if self.user is not None:
            _open_path_for(self.folder, self.user)
            for path in self.folder.iterdir():
                _open_path_for(path, self.user)
        return config

    def start(self, timeout: float = 30.0) -> None:
        config = self._write_config()
        with (self.folder / "stdout.log").open("wb") as out:
            self.process = subprocess.Popen(
                [self.binary, str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
            )
        probe = make_conninfo("", **{**self.upstream, "host": "127.0.0.1", "port": self.port})
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                message = f"pgbouncer exited: {self.log()}"
                self.stop()
                raise RuntimeError(message)
            try:
                with psycopg.connect(probe, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    message = f"pgbouncer did not answer in {timeout}s: {self.log()}"
                    self.stop()
                    raise RuntimeError(message) from error
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_pgbouncer(upstream_url: str) -> PgBouncer:
    """A running PgBouncer in front of ``upstream_url``'s server; skips when none is installed."""
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("PgBouncer is not installed (Debian: apt-get install pgbouncer)")
    bouncer = PgBouncer(binary, upstream_url)
    bouncer.start()
    return bouncer
