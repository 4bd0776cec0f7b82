"""Property: the claim order equals the order computed in Python, for random mixes of
priorities, schedules and pauses."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sql.conftest import Conn, claim, enqueue, one

PRIORITY_RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}

task_spec = st.tuples(
    st.sampled_from(["LOW", "MEDIUM", "HIGH"]),
    st.integers(min_value=-3, max_value=3),  # minutes from now: > 0 is scheduled for later
    st.booleans(),  # paused
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(task_spec, min_size=1, max_size=12), batch_size=st.integers(1, 4))
def test_claim_order_matches_python(
    conn: Conn, worker_id: UUID, specs: list[tuple[str, int, bool]], batch_size: int
) -> None:
    conn.execute("DELETE FROM taskq.tasks")
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    now: datetime = one(conn, "SELECT now()")
    expected: list[tuple[int, datetime, UUID]] = []
    for priority, minutes, paused in specs:
        at = now + timedelta(minutes=minutes)
        task_id = enqueue(conn, priority=priority, scheduled_at=at)
        if paused:
            conn.execute("SELECT taskq.pause(%s)", (task_id,))
        elif minutes <= 0:
            expected.append((-PRIORITY_RANK[priority], at, task_id))
    order = [task_id for _, _, task_id in sorted(expected)]
    got: list[UUID] = []
    while True:
        rows = claim(conn, worker_id, batch_size=batch_size)
        if not rows:
            break
        got.extend(r["id"] for r in rows)
    assert got == order
