"""``GET /api/health/tables``: taskq.table_health and taskq.cleanup_holders over REST."""

from __future__ import annotations

import psycopg

from taskq import client
from tests.api.conftest import Client


async def test_tables_and_the_snapshot_that_holds_them_back(
    api: Client, db: client.Connection, database_url: str
) -> None:
    response = await api.get("/api/health/tables")
    assert response.status_code == 200, response.text
    body = response.json()
    names = {table["table_name"] for table in body["tables"]}
    assert {"tasks", "queues", "slots", "workers"} <= names
    assert not any(holder["is_horizon"] for holder in body["cleanup_holders"])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as other:
        await other.execute("SET application_name = 'api-holder'")
        await other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await other.execute("SELECT 1")
        await client.enqueue(db, "x")
        response = await api.get("/api/health/tables")
        assert response.status_code == 200, response.text
        [holder] = [h for h in response.json()["cleanup_holders"] if h["is_horizon"]]
        assert holder["pid"] == other.info.backend_pid
        assert holder["name"] == "api-holder"
        assert holder["holder"] == "session"
        assert holder["xmin_age"] >= 1
        assert holder["age"] > 0
        assert holder["since"].endswith("+00:00")
        await other.execute("ROLLBACK")
    tasks = next(t for t in response.json()["tables"] if t["table_name"] == "tasks")
    assert tasks["total_bytes"] == tasks["table_bytes"] + tasks["index_bytes"]
