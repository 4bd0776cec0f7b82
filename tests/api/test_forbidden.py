"""The API on a database role that lacks a grant: the refused call is 403 problem+json naming
the grant, never 500; what the role may do still works."""

from __future__ import annotations

import psycopg
from litestar.testing import AsyncTestClient

from api import create_app
from tests.api.conftest import Client, login_as_member_of
from tests.api.test_tasks import problem
from tests.conftest import PgServer


async def test_a_call_the_role_may_not_make_is_403(database_url: str, pg_server: PgServer) -> None:
    with login_as_member_of(
        pg_server, database_url, "taskq_test_producer_only", "taskq_producer"
    ) as url:
        async with AsyncTestClient(app=create_app(url, pool_timeout=2.0)) as api:
            created = await api.post("/api/tasks/", json={"name": "x"})
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            answer = problem(await api.post(f"/api/tasks/{task_id}/cancel"), 403)
            assert answer["type"] == "urn:taskq:problem:forbidden"
            assert "permission denied for function cancel" in answer["detail"]
            assert "taskq_admin" in answer["hint"]
            problem(await api.get("/api/audit"), 403)
            # the refused cancel changed nothing
            assert (await api.get(f"/api/tasks/{task_id}")).json()["status"] == "QUEUED"


async def test_a_call_the_database_rolled_back_for_a_concurrent_one_is_503_retry(
    database_url: str, api: Client
) -> None:
    """A deadlock or a serialization failure (SQLSTATE class 40) is the client's to retry: 503
    with Retry-After, never 500. A trigger raises 40P01 as the deadlock detector would."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            """
            CREATE FUNCTION public.as_if_deadlocked() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
            END $$;
            CREATE TRIGGER as_if_deadlocked BEFORE INSERT ON taskq.tasks
                FOR EACH ROW EXECUTE FUNCTION public.as_if_deadlocked();
            """
        )
    response = await api.post("/api/tasks/", json={"name": "x"})
    answer = problem(response, 503)
    assert answer["type"] == "urn:taskq:problem:database-busy"
    assert "retry" in answer["detail"]
    assert response.headers["retry-after"] == "1"
