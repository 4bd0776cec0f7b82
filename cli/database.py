"""Which database a command uses: the configured one (:mod:`taskq.settings`), else the embedded
server (:mod:`taskq.embedded`) while ``taskq run`` keeps it running. The one place that knows both,
so that neither of them imports the other."""

from __future__ import annotations

import logging

from taskq.embedded import running_embedded
from taskq.settings import (
    ConfigError,
    DatabaseSource,
    check_database,
    configured_database,
    failover_warning,
)


def resolve_database(explicit: str | None = None) -> DatabaseSource:
    """``explicit`` (a ``--database-url``), else the configured database, else the embedded one
    if it is running: this never starts a server (only ``taskq run`` does, and stops it again);
    :class:`taskq.settings.NotRunning` otherwise."""
    configured = configured_database(explicit)
    if configured is not None:
        return configured
    return running_embedded()


def database_at_start(
    explicit: str | None, log: logging.Logger, meanwhile: str
) -> DatabaseSource | None:
    """The database of a long-running command (``taskq worker``, ``taskq api``), checked once:
    None, the reason logged, when this configuration cannot work; a warning ending in
    ``meanwhile`` when the database does not answer yet, which the command then waits for; a
    warning too for a multi-host URL that may settle on a standby."""
    try:
        source = resolve_database(explicit)
        problem = check_database(source, timeout=5)
    except ConfigError as error:
        log.error("%s", error)
        return None
    warning = failover_warning(source.url)
    if warning is not None:
        log.warning("%s", warning)
    if problem is not None:
        log.warning(
            "the database from %s does not answer (%s); %s", source.origin, problem, meanwhile
        )
    return source
