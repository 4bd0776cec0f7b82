"""Multi-host database URLs: where ``taskq migrate`` deploys (Sqitch takes one host), and the
warning for a URL that may settle on a standby."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from taskq import migrate
from taskq.pgserver import free_port
from taskq.settings import failover_warning, names_several_hosts


def behind_a_dead_host(database_url: str, query: str = "") -> tuple[str, int]:
    """``database_url`` with a first host that does not answer; and the dead host's port."""
    parts = conninfo_to_dict(database_url)
    dead = free_port()
    url = (
        f"postgresql://{parts['user']}@127.0.0.1:{dead},{parts['host']}:{parts['port']}"
        f"/{parts['dbname']}{query}"
    )
    return url, dead


def test_a_single_host_url_is_the_target_as_it_is() -> None:
    assert migrate.sqitch_target("postgresql://me:pw@db.example:6543/jobs") == (
        "db:pg://me:pw@db.example:6543/jobs"
    )


def test_a_multi_host_url_targets_the_host_that_takes_writes(database_url: str) -> None:
    url, _ = behind_a_dead_host(database_url)
    parts = conninfo_to_dict(database_url)
    assert migrate.sqitch_target(url) == (
        f"db:pg://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"
    )
    assert "taskq" in migrate.status(url)


def test_a_multi_host_url_without_a_writable_host_names_the_hosts_it_tried(
    database_url: str,
) -> None:
    # the live server is read-only for this session, as a standby is
    url, dead = behind_a_dead_host(
        database_url, "?options=-c%20default_transaction_read_only%3Don&connect_timeout=2"
    )
    with pytest.raises(migrate.MigrationError) as raised:
        migrate.sqitch_target(url)
    message = str(raised.value)
    assert f"127.0.0.1:{dead}" in message
    assert f":{conninfo_to_dict(database_url)['port']}" in message
    assert "takes writes" in message


@pytest.mark.parametrize(
    ("url", "several", "warned"),
    [
        ("postgresql://a:5432/db", False, False),
        ("host=a port=5432 dbname=db", False, False),
        ("postgresql://a:5432,b:5432/db", True, True),
        ("host=a,b port=5432,5433", True, True),
        ("postgresql://a,b/db?target_session_attrs=any", True, True),
        ("postgresql://a,b/db?target_session_attrs=read-write", True, False),
        ("host=a,b target_session_attrs=primary", True, False),
    ],
)
def test_a_multi_host_url_is_warned_about_without_target_session_attrs(
    url: str, several: bool, warned: bool
) -> None:
    assert names_several_hosts(url) is several
    warning = failover_warning(url)
    assert (warning is not None) is warned
    if warning is not None:
        assert "target_session_attrs=read-write" in warning
