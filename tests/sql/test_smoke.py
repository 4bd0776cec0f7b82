from __future__ import annotations

import psycopg


def test_enqueue_and_claim(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    task_id = conn.execute("SELECT taskq.enqueue('x', priority => 'HIGH')").fetchone()
    assert task_id is not None
    worker = conn.execute("SELECT taskq.register_worker('w')").fetchone()
    assert worker is not None
    rows = conn.execute("SELECT id, status FROM taskq.claim_next(%s)", (worker[0],)).fetchall()
    assert rows == [(task_id[0], "RUNNING")]
