"""A schedule every second, declared by the handlers' decorator, with three worker processes:
each tick of a 10-second window is enqueued and run exactly once."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from tests.e2e.test_e2e_worker import logs, workers
from tests.worker.helpers import SyncConnection, wait_until


def test_three_workers_run_a_schedule_every_second_once_per_tick(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with workers(database_url, conn, tmp_path, 3, "--import", "tests.e2e.schedule_handlers") as ps:
        wait_until(
            lambda: conn.execute(
                "SELECT 1 FROM taskq.schedules WHERE name = 'tests.tick'"
            ).fetchone(),
            20,
            "the workers declared the schedule",
        )
        # a window of whole seconds by the database's clock, starting after all three run
        row = conn.execute("SELECT date_trunc('second', now()) + interval '2 seconds'").fetchone()
        assert row is not None
        start = row[0]
        end = start + timedelta(seconds=10)
        window = (
            "SELECT scheduled_at, status FROM taskq.tasks WHERE name = 'tests.tick'"
            " AND scheduled_at >= %s AND scheduled_at < %s ORDER BY scheduled_at"
        )

        def all_ran() -> bool:
            now = conn.execute("SELECT now()").fetchone()
            assert now is not None
            rows = conn.execute(window, (start, end)).fetchall()
            return now[0] > end + timedelta(seconds=2) and all(r[1] == "COMPLETED" for r in rows)

        wait_until(all_ran, 40, "the window passed and its tasks ran")
        time.sleep(0.5)
        rows = conn.execute(window, (start, end)).fetchall()
        assert [r[0] for r in rows] == [start + timedelta(seconds=k) for k in range(10)], logs(ps)
        assert {r[1] for r in rows} == {"COMPLETED"}
