"""Connections behind a pooler: how taskq tells PgBouncer from a direct connection, the prepare
policy (``TASKQ_PREPARE``) on pooled and single connections, and refused settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from taskq import pool as taskq_pool
from taskq.settings import ConfigError, listen_url_setting, prepare_setting

ROOT = Path(__file__).resolve().parents[1]


async def test_pgbouncer_is_told_apart_from_a_direct_connection(
    database_url: str, pooled_database_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as direct:
        assert not await taskq_pool.behind_pooler(direct)
    async with await psycopg.AsyncConnection.connect(pooled_database_url, autocommit=True) as via:
        assert await taskq_pool.behind_pooler(via)


@pytest.mark.parametrize(
    ("prepare", "off_direct", "off_pooled"),
    [("auto", False, True), ("on", False, False), ("off", True, True)],
)
async def test_every_connection_follows_taskq_prepare(
    database_url: str,
    pooled_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    prepare: str,
    off_direct: bool,
    off_pooled: bool,
) -> None:
    monkeypatch.setenv("TASKQ_PREPARE", prepare)
    for url, off in ((database_url, off_direct), (pooled_database_url, off_pooled)):
        async with (
            taskq_pool.make_pool(url, min_size=1, max_size=1) as pool,
            pool.connection() as pooled,
        ):
            assert (pooled.prepare_threshold is None) is off, (prepare, url)
        async with await taskq_pool.connect(url) as single:
            assert (single.prepare_threshold is None) is off, (prepare, url)


def test_the_settings_are_read_and_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKQ_PREPARE", raising=False)
    monkeypatch.delenv("TASKQ_LISTEN_URL", raising=False)
    assert prepare_setting() == "auto"
    assert listen_url_setting() is None
    monkeypatch.setenv("TASKQ_PREPARE", " OFF ")
    assert prepare_setting() == "off"
    monkeypatch.setenv("TASKQ_LISTEN_URL", "postgresql://taskq@db.internal:5432/taskq")
    assert listen_url_setting() == "postgresql://taskq@db.internal:5432/taskq"
    monkeypatch.setenv("TASKQ_PREPARE", "sometimes")
    with pytest.raises(ConfigError, match="TASKQ_PREPARE must be auto, on or off, not 'sometimes'"):
        prepare_setting()
    monkeypatch.setenv("TASKQ_LISTEN_URL", "not a url")
    with pytest.raises(ConfigError, match="TASKQ_LISTEN_URL is not a PostgreSQL URL"):
        listen_url_setting()


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (["worker"], "TASKQ_PREPARE", "sometimes"),
        (["worker"], "TASKQ_LISTEN_URL", "not a url"),
        (["worker"], "TASKQ_EVENT_LOOP", "tokio"),
        (["api"], "TASKQ_PREPARE", "sometimes"),
        (["queues"], "TASKQ_PREPARE", "sometimes"),
    ],
)
def test_a_bad_setting_stops_a_command_with_one_line(
    database_url: str, command: list[str], variable: str, value: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *command, "--database-url", database_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", variable: value},
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0]
