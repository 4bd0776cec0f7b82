"""The API while no server takes writes (a failover under way), and on a multi-host URL: 503
with a retry hint, never 500, and back to 201 without a restart once a server takes writes."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from psycopg.conninfo import conninfo_to_dict

from api import create_app
from tests.api.conftest import free_port
from tests.api.test_tasks import problem
from tests.conftest import PgServer, database_name


def _read_only(pg_server: PgServer, database_url: str, on: bool) -> None:
    import psycopg

    setting = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database_name(database_url)}" {setting}')


def _multi_host(database_url: str, *, first_port: int, **params: str) -> str:
    """``database_url`` behind a first host that does not answer."""
    parts = conninfo_to_dict(database_url)
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return (
        f"postgresql://{parts['user']}@127.0.0.1:{first_port},{parts['host']}:{parts['port']}"
        f"/{parts['dbname']}?{query}"
    )


async def test_a_read_only_server_is_503_and_the_api_recovers_without_a_restart(
    database_url: str, pg_server: PgServer
) -> None:
    _read_only(pg_server, database_url, on=True)
    async with AsyncTestClient(app=create_app(database_url, pool_timeout=1.0)) as api:
        for _ in range(2):  # the same answer on a second connection
            answer = problem(await api.post("/api/tasks/", json={"name": "x"}), 503)
            assert answer["type"] == "urn:taskq:problem:database-unavailable"
            assert "takes no writes" in answer["detail"]
            assert "read-only transaction" in answer["detail"]
        listed = await api.get("/api/tasks")  # reading needs no writable server
        assert listed.status_code == 200
        _read_only(pg_server, database_url, on=False)
        # a pooled connection opened before is read-only for good: it fails its call once,
        # and is replaced
        answers = []
        for _ in range(12):
            answers.append((await api.post("/api/tasks/", json={"name": "x"})).status_code)
            if answers[-1] == 201:
                break
        assert answers[-1] == 201, answers
        assert set(answers) <= {503, 201}, answers
        for _ in range(3):
            assert (await api.post("/api/tasks/", json={"name": "x"})).status_code == 201


async def test_a_multi_host_url_reaches_the_host_that_answers(database_url: str) -> None:
    url = _multi_host(database_url, first_port=free_port(), target_session_attrs="read-write")
    async with AsyncTestClient(app=create_app(url, pool_timeout=3.0)) as api:
        created = await api.post("/api/tasks/", json={"name": "x"})
        assert created.status_code == 201, created.text
        assert (await api.get(f"/api/tasks/{created.json()['id']}")).status_code == 200


async def test_no_writable_host_is_503_with_a_retry_hint(
    database_url: str, pg_server: PgServer
) -> None:
    # libpq refuses the read-only server for target_session_attrs=read-write: no host is left
    _read_only(pg_server, database_url, on=True)
    url = _multi_host(
        database_url, first_port=free_port(), target_session_attrs="read-write", connect_timeout="2"
    )
    async with AsyncTestClient(app=create_app(url, pool_timeout=1.0)) as api:
        response = await api.post("/api/tasks/", json={"name": "x"})
        problem(response, 503)
        assert response.headers["retry-after"] == "5"
        health = await api.get("/health")
        assert health.status_code == 503
