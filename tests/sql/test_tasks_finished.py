"""The deploy of the prune's index (taskq:tasks_finished) builds it CONCURRENTLY: while it waits
for a transaction that writes taskq.tasks, other enqueues go on (a plain CREATE INDEX would queue
its SHARE lock behind that transaction, and every write behind it)."""

from __future__ import annotations

import threading
import time

import psycopg

from taskq import migrate
from tests.sql.conftest import one

DEADLINE = 30.0


def test_building_the_index_blocks_no_enqueue(empty_database_url: str) -> None:
    migrate.sqitch("deploy", empty_database_url, "--to", "retention")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("SELECT taskq.enqueue('first')")  # the queue's row, committed
    outcome: list[BaseException | str] = []

    def deploy() -> None:
        try:
            outcome.append(migrate.sqitch("deploy", empty_database_url, "--to", "tasks_finished"))
        except BaseException as error:
            outcome.append(error)

    with (
        psycopg.connect(empty_database_url) as writer,
        psycopg.connect(empty_database_url, autocommit=True) as other,
    ):
        writer.execute("SELECT taskq.enqueue('open')")  # uncommitted: its lock is held
        builder = threading.Thread(target=deploy)
        builder.start()
        try:
            started = time.monotonic()
            while not one(
                other,
                "SELECT count(*) > 0 FROM pg_stat_progress_create_index"
                " WHERE relid = 'taskq.tasks'::regclass",
            ):
                assert builder.is_alive(), outcome
                assert time.monotonic() - started < DEADLINE, "the build never started"
                time.sleep(0.05)
            # the build waits for the open transaction; an enqueue meanwhile does not wait
            other.execute("SET statement_timeout = '5s'")
            other.execute("SELECT taskq.enqueue('meanwhile')")
            assert builder.is_alive()
        finally:
            writer.commit()
            builder.join(timeout=DEADLINE)
    assert not builder.is_alive()
    assert not any(isinstance(o, BaseException) for o in outcome), outcome
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert one(
            conn,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'taskq.tasks_finished'::regclass",
        )
        assert one(conn, "SELECT count(*) FROM taskq.tasks") == 3
