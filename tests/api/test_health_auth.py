"""/health, a database that is down (503, never 500), and bearer auth with TASKQ_API_TOKEN."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from psycopg.conninfo import conninfo_to_dict

from api import create_app
from tests.api.conftest import Client, free_port
from tests.api.test_tasks import MISSING, problem
from tests.conftest import PgServer

TOKEN = "s3cret-token"


async def test_health_is_200_when_the_database_answers(api: Client) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "detail": None}


async def test_a_database_that_is_down_is_503_everywhere_and_health_says_so() -> None:
    url = f"postgresql://taskq@127.0.0.1:{free_port()}/taskq?connect_timeout=2"
    app = create_app(url, pool_timeout=0.3)
    async with AsyncTestClient(app=app) as api:
        health = await api.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert health.json()["database"] == "down"
        for method, path, body in [
            ("GET", "/api/tasks", None),
            ("POST", "/api/tasks/", {"name": "x"}),
            ("GET", f"/api/tasks/{MISSING}", None),
            ("PATCH", f"/api/tasks/{MISSING}/pause", None),
            ("POST", f"/api/tasks/{MISSING}/cancel", None),
            ("GET", "/api/queues", None),
            ("PATCH", "/api/queues/mail", {"paused": True}),
            ("GET", "/task/create", None),
            ("GET", f"/task/status/{MISSING}", None),
        ]:
            response = await api.request(method, path, json=body)
            answer = problem(response, 503)
            assert "database" in answer["detail"], (method, path, answer)
            assert response.headers["retry-after"] == "5"
        docs = await api.get("/docs")
        assert docs.status_code == 200


async def test_a_database_that_goes_away_is_503_not_500(
    api: Client, database_url: str, pg_server: PgServer
) -> None:
    assert (await api.post("/api/tasks/", json={"name": "x"})).status_code == 201
    import psycopg

    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    for _ in range(3):
        problem(await api.get("/api/tasks"), 503)
        problem(await api.post("/api/tasks/", json={"name": "x"}), 503)
    assert (await api.get("/health")).status_code == 503


async def test_with_a_token_every_route_but_health_wants_it(database_url: str) -> None:
    app = create_app(database_url, api_token=TOKEN, pool_timeout=1.0)
    async with AsyncTestClient(app=app) as api:
        assert (await api.get("/health")).status_code == 200
        for path in ("/api/tasks", "/api/queues", "/task/create", "/docs", "/docs/openapi.json"):
            missing = await api.get(path)
            body = problem(missing, 401)
            assert "Bearer" in body["detail"]
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await api.get(path, headers={"Authorization": "Bearer nope"})
            problem(wrong, 401)
            basic = await api.get(path, headers={"Authorization": f"Basic {TOKEN}"})
            problem(basic, 401)
        problem(await api.post("/api/tasks/", json={"name": "x"}), 401)

        auth = {"Authorization": f"Bearer {TOKEN}"}
        created = await api.post("/api/tasks/", json={"name": "x"}, headers=auth)
        assert created.status_code == 201
        listed = await api.get("/api/tasks", headers=auth)
        assert listed.status_code == 200
        assert [task["id"] for task in listed.json()["items"]] == [created.json()["id"]]
        schema = (await api.get("/docs/openapi.json", headers=auth)).json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert schema["security"] == [{"bearer": []}]


async def test_without_a_token_nothing_wants_one(api: Client) -> None:
    response = await api.get("/api/tasks", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 200
    schema = (await api.get("/docs/openapi.json")).json()
    assert "security" not in schema


async def test_unknown_routes_and_methods_are_problems(api: Client) -> None:
    assert "/api/nothing" in problem(await api.get("/api/nothing"), 404)["detail"]
    assert "DELETE" in problem(await api.delete("/api/tasks"), 405)["detail"]
