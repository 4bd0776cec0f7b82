"""The Sqitch project: deploy --verify, revert, deploy --verify on an empty database; psql."""

from __future__ import annotations

import shutil
import subprocess

import psycopg
import pytest

from taskq import migrate

# what taskq_admin may call (tests/sql/test_privileges.py has each role's); PUBLIC may call none
PUBLIC_FUNCTIONS = [
    "taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, "
    "text, interval, text, interval, jsonb)",
    "taskq.enqueue_many(jsonb)",
    "taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], "
    "text[], interval[], text[], interval[], jsonb[])",
    "taskq.claim_next(uuid, text[], text[], interval, integer)",
    "taskq.complete(uuid, uuid, jsonb)",
    "taskq.fail(uuid, uuid, text, interval, timestamptz)",
    "taskq.heartbeat(uuid, interval, uuid[])",
    "taskq.pause(uuid, text)",
    "taskq.resume(uuid, text)",
    "taskq.cancel(uuid, text)",
    "taskq.retry(uuid, text)",
    "taskq.get_task(uuid)",
    "taskq.register_worker(text, text[], text, integer, text[])",
    "taskq.unregister_worker(uuid)",
    "taskq.held_tasks(uuid)",
    "taskq.rescue_expired()",
    "taskq.set_concurrency(text, integer, text)",
    "taskq.pause_queue(text, text)",
    "taskq.resume_queue(text, text)",
    "taskq.list_audit(uuid, text, text, timestamptz, timestamptz, bigint, integer)",
]


def schema_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'taskq'"
        ).fetchone() == (1,)


def test_round_trip(empty_database_url: str) -> None:
    assert not schema_exists(empty_database_url)
    migrate.deploy(empty_database_url)
    assert schema_exists(empty_database_url)
    assert "Nothing to deploy" in migrate.deploy(empty_database_url)
    migrate.revert(empty_database_url)
    assert not schema_exists(empty_database_url)
    migrate.deploy(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        for signature in PUBLIC_FUNCTIONS:
            assert conn.execute(
                "SELECT has_function_privilege('taskq_admin', %s, 'execute'),"
                " has_function_privilege('public', %s, 'execute')",
                (signature, signature),
            ).fetchone() == (True, False)
        described = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'taskq' AND obj_description(p.oid, 'pg_proc') IS NULL"
        ).fetchone()
    assert described == (0,), "every function has a COMMENT"
    assert "Nothing to deploy (up-to-date)" in migrate.status(empty_database_url)


def test_every_function_is_commented_and_definers_pin_search_path(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        loose = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'taskq' AND p.prosecdef"
            " AND NOT coalesce('search_path=taskq, pg_temp' = ANY (p.proconfig), false)"
        ).fetchall()
    assert loose == []


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_psql_calls(database_url: str) -> None:
    def psql(*commands: str) -> str:
        args = ["psql", database_url, "-X", "-At", "-v", "ON_ERROR_STOP=1"]
        for command in commands:
            args += ["-c", command]
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout

    first = psql("SELECT taskq.enqueue('x', priority => 'HIGH')").strip()
    second = psql("SET search_path = taskq, public", "SELECT enqueue('x')").splitlines()[-1]
    listing = psql("SELECT id, priority FROM taskq.tasks ORDER BY id")
    assert listing.splitlines() == [f"{first}|HIGH", f"{second}|MEDIUM"]
    stats = psql("SELECT queue, queued FROM taskq.queue_stats")
    assert stats.strip() == "default|2"
