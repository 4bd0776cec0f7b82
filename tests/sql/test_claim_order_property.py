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


def enqueue_specs(conn: Conn, specs: list[tuple[str, int, bool]]) -> list[UUID]:
    """Enqueue a task per spec (priority, minutes from now, paused); the ids of those due and
    not paused, in the order a claim must take them."""
    now: datetime = one(conn, "SELECT now()")
    expected: list[tuple[int, datetime, UUID]] = []
    for priority, minutes, paused in specs:
        at = now + timedelta(minutes=minutes)
        task_id = enqueue(conn, priority=priority, scheduled_at=at)
        if paused:
            conn.execute("SELECT taskq.pause(%s)", (task_id,))
        elif minutes <= 0:
            expected.append((-PRIORITY_RANK[priority], at, task_id))
    return [task_id for _, _, task_id in sorted(expected)]


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
    order = enqueue_specs(conn, specs)
    got: list[UUID] = []
    while True:
        rows = claim(conn, worker_id, batch_size=batch_size)
        if not rows:
            break
        got.extend(r["id"] for r in rows)
    assert got == order


# claim_next has two statements: one for queues with a key limit or a rate, one for queues with
# neither. A rate and a key limit that never bind make it run the first on the same tasks.
LIMITS = {
    "none": (),
    "rate": ("SELECT taskq.set_rate_limit('default', 1000000, burst => 1000000)",),
    "key limit": ("SELECT taskq.set_key_concurrency('default', 10000)",),
    "rate, paused queue beside": (
        "SELECT taskq.set_rate_limit('beside', 1)",
        "SELECT taskq.pause_queue('beside')",
    ),
}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(task_spec, min_size=1, max_size=12),
    batch_size=st.integers(1, 4),
    slots=st.one_of(st.none(), st.integers(1, 5)),
    limits=st.sampled_from(sorted(LIMITS)),
)
def test_both_statements_claim_in_python_order_with_slots(
    conn: Conn,
    worker_id: UUID,
    specs: list[tuple[str, int, bool]],
    batch_size: int,
    slots: int | None,
    limits: str,
) -> None:
    """The tasks claimed, their order and their slots do not depend on which statement ran:
    with n slots the first n tasks of the Python order are claimed, each with a slot of its own
    that names it, and then no more."""
    conn.execute("UPDATE taskq.slots SET task_id = NULL")
    conn.execute("DELETE FROM taskq.tasks")
    for queue in ("default", "beside"):
        conn.execute("SELECT taskq.set_concurrency(%s, NULL)", (queue,))
        conn.execute("SELECT taskq.set_rate_limit(%s, NULL)", (queue,))
        conn.execute("SELECT taskq.set_key_concurrency(%s, NULL)", (queue,))
        conn.execute("SELECT taskq.resume_queue(%s)", (queue,))
    conn.execute("SELECT taskq.set_concurrency('default', %s)", (slots,))
    for statement in LIMITS[limits]:
        conn.execute(statement)
    order = enqueue_specs(conn, specs)
    if slots is not None:
        order = order[:slots]
    got: list[UUID] = []
    while True:
        rows = claim(conn, worker_id, queues=["default", "beside"], batch_size=batch_size)
        if not rows:
            break
        assert len(rows) <= batch_size
        got.extend(r["id"] for r in rows)
        if slots is None:
            assert all(r["slot"] is None for r in rows)
        else:
            for r in rows:
                holder = one(conn, "SELECT task_id FROM taskq.slots WHERE id = %s", (r["slot"],))
                assert holder == r["id"]
    assert got == order
