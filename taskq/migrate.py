"""Deploy, revert and inspect the schema with the real Sqitch CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from taskq.settings import connection_problem, names_several_hosts

# psql's report of the statement that failed (``psql:db/deploy/roles.sql:95: ERROR:  ...``)
_SQL_ERROR = re.compile(r"^(?:\S*: )?ERROR:\s+(.+)$", re.MULTILINE)


class MigrationError(RuntimeError):
    """Sqitch is missing or failed; the message says what to do, ``output`` is all it said."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def project_dir() -> Path:
    """The folder that holds ``sqitch.conf``, ``sqitch.plan`` and ``db/``."""
    here = Path(__file__).resolve().parent.parent
    if (here / "sqitch.plan").exists():
        return here
    raise MigrationError(f"no sqitch.plan next to the taskq package (looked in {here})")


def sqitch_target(database_url: str) -> str:
    """A Sqitch target (``db:pg://user:pass@host:port/db``) for a libpq URL or DSN.

    Sqitch takes one host. A URL that names several (a primary and its standbys:
    ``host=a,b``) is resolved first: the target is the host that libpq finds taking writes,
    trying them in the URL's order (:func:`writable_host`)."""
    parts = conninfo_to_dict(database_url)
    user = parts.get("user") or "postgres"
    password = parts.get("password")
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    if names_several_hosts(database_url):
        host, port = writable_host(database_url)
    dbname = parts.get("dbname") or user
    auth = (
        f"{quote(str(user), safe='')}:{quote(str(password), safe='')}"
        if password
        else quote(str(user), safe="")
    )
    return f"db:pg://{auth}@{host}:{port}/{dbname}"


def writable_host(database_url: str) -> tuple[str, str]:
    """The host and port, of those ``database_url`` names, that take writes now: the first
    that libpq accepts with ``target_session_attrs=read-write`` (whatever the URL says)."""
    parts = conninfo_to_dict(database_url)
    try:
        with psycopg.connect(
            database_url,
            target_session_attrs="read-write",
            connect_timeout=parts.get("connect_timeout") or 10,
        ) as conn:
            return conn.info.host, str(conn.info.port)
    except psycopg.Error as error:
        hosts = str(parts.get("host") or parts.get("hostaddr") or "localhost").split(",")
        ports = str(parts.get("port") or "5432").split(",")
        if len(ports) == 1:
            ports *= len(hosts)
        named = ", ".join(f"{host}:{port}" for host, port in zip(hosts, ports, strict=False))
        raise MigrationError(
            f"none of the database's hosts ({named}) takes writes, so there is none to deploy "
            f"to: {connection_problem(error)}"
        ) from None


def sqitch(command: str, database_url: str, *args: str) -> str:
    """Run ``sqitch COMMAND TARGET ARGS`` in the project folder; return its output."""
    executable = shutil.which("sqitch")
    if executable is None:
        raise MigrationError(
            "sqitch is not installed: run `sudo apt-get install -y sqitch libdbd-pg-perl`"
        )
    result = subprocess.run(
        [executable, command, *args, sqitch_target(database_url)],
        cwd=project_dir(),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise MigrationError(failure(command, output), output)
    return output


def failure(command: str, output: str) -> str:
    """What a failed ``sqitch COMMAND`` says: the one line of the SQL error when a script
    raised one (such as the statements to run when the deploying role may not create the
    roles), else all of Sqitch's output."""
    error = _SQL_ERROR.search(output)
    if error is not None:
        return f"sqitch {command} failed: {error.group(1).strip()}"
    return f"sqitch {command} failed:\n{output.strip()}"


def deploy(database_url: str) -> str:
    """``sqitch deploy --verify``: idempotent, nothing to do when the schema is current."""
    return sqitch("deploy", database_url, "--verify")


def revert(database_url: str) -> str:
    return sqitch("revert", database_url, "-y")


def status(database_url: str) -> str:
    return sqitch("status", database_url)
