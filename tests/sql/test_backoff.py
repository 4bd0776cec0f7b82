"""taskq.backoff: 2^attempt seconds, +/-25% jitter, then at most an hour; bad attempts refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sql.conftest import Conn, one, raises_sqlstate

HOUR = timedelta(hours=1)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(attempt=st.one_of(st.integers(1, 16), st.integers(1, 2**31 - 1)))
def test_backoff_is_the_jittered_power_of_two_capped_at_an_hour(conn: Conn, attempt: int) -> None:
    base = timedelta(seconds=2 ** min(attempt, 20))
    waits: list[timedelta] = [
        row[0]
        for row in conn.execute(
            "SELECT taskq.backoff(%s) FROM generate_series(1, 20)", (attempt,)
        ).fetchall()
    ]
    for wait in waits:
        assert min(base * 0.75, HOUR) <= wait <= min(base * 1.25, HOUR), (attempt, wait)


def test_the_cap_comes_after_the_jitter(conn: Conn) -> None:
    # 2^12 s is 68 minutes: with the jitter after the cap, waits went up to 75 minutes
    assert one(conn, "SELECT max(taskq.backoff(12)) FROM generate_series(1, 200)") == HOUR
    assert one(conn, "SELECT min(taskq.backoff(30)) FROM generate_series(1, 200)") == HOUR


@pytest.mark.parametrize(("attempt", "sqlstate"), [(None, "22004"), (0, "22023"), (-100, "22023")])
def test_backoff_refuses_what_is_not_an_attempt(
    conn: Conn, attempt: int | None, sqlstate: str
) -> None:
    with raises_sqlstate(sqlstate, "attempt must"):
        conn.execute("SELECT taskq.backoff(%s::integer)", (attempt,))
