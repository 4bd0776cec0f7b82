"""Queue limits end to end, with three real worker processes: per-key concurrency never runs two
tasks of a key at once while the other keys progress, and a rate limit holds over 10 seconds."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.e2e.test_e2e_worker import logs, workers
from tests.worker.helpers import SyncConnection

KEYS = 20
TASKS = 500


def test_key_limit_1_over_20_keys_with_3_workers(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', 30)")
    conn.execute("SELECT taskq.set_key_concurrency('default', 1)")
    with workers(database_url, conn, tmp_path, 3, "--concurrency", "10") as processes:
        conn.execute(
            "SELECT taskq.enqueue('sleep', jsonb_build_object('seconds', 0.05),"
            " concurrency_key => 'k' || (g %% %s)) FROM generate_series(1, %s) g",
            (KEYS, TASKS),
        )
        worst: Counter[str] = Counter()
        busiest = 0
        samples = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # one snapshot: the RUNNING tasks per key at one instant
            rows = conn.execute(
                "SELECT concurrency_key, count(*) FROM taskq.tasks"
                " WHERE status = 'RUNNING' GROUP BY 1"
            ).fetchall()
            for key, running in rows:
                worst[key] = max(worst[key], running)
            busiest = max(busiest, sum(running for _, running in rows))
            samples += 1
            done = conn.execute(
                "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED'"
            ).fetchone()
            if done is not None and done[0] == TASKS:
                break
            time.sleep(0.003)
        final = conn.execute("SELECT status::text, count(*) FROM taskq.tasks GROUP BY 1").fetchall()
        assert final == [("COMPLETED", TASKS)], logs(processes)
    assert samples > 50
    assert max(worst.values()) == 1, worst
    # the other keys progress meanwhile: many keys run at once, on every worker
    assert busiest >= 5, busiest
    per_worker = conn.execute("SELECT count(DISTINCT worker_id) FROM taskq.tasks").fetchone()
    assert per_worker == (3,)


def test_a_rate_of_20_a_second_holds_over_10_seconds_with_3_workers(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    conn.execute("SELECT taskq.set_concurrency('default', NULL)")
    conn.execute("SELECT taskq.set_rate_limit('default', 20, burst => 5)")
    conn.execute("SELECT taskq.enqueue('echo') FROM generate_series(1, 400)")
    with workers(database_url, conn, tmp_path, 3, "--concurrency", "10") as processes:
        time.sleep(12.5)
        # claims in the 10 seconds from 1 second after the first, by the database clock
        row = conn.execute(
            "WITH first AS (SELECT min(started_at) + interval '1 second' AS at FROM taskq.tasks)"
            " SELECT count(*) FILTER (WHERE t.started_at >= f.at"
            "                           AND t.started_at < f.at + interval '10 seconds'),"
            "        count(DISTINCT t.worker_id)"
            " FROM taskq.tasks t, first f WHERE t.started_at IS NOT NULL"
        ).fetchone()
        assert row is not None, logs(processes)
        spread = conn.execute(
            "SELECT date_trunc('second', started_at), count(*) FROM taskq.tasks"
            " WHERE started_at IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
    claims, claimers = row
    assert 190 <= claims <= 210, (claims, spread, logs(processes))
    assert claimers == 3
