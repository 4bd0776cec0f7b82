"""``/health``: 200 when the database answers, 503 when it does not. Never behind the token."""

from __future__ import annotations

import asyncio

import psycopg
from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from api.deps import DatabaseDep
from api.schemas import Health


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get(
        "/",
        operation_id="health",
        summary="Whether the API can reach its database",
        description="Takes a connection from the pool and checks that it answers. "
        "Open even when TASKQ_API_TOKEN is set.",
        opt={"public": True},
        security=[{}],
        responses={
            503: ResponseSpec(
                data_container=Health,
                description="The database cannot be reached",
                generate_examples=False,
            )
        },
    )
    async def health(self, database: DatabaseDep) -> Response[Health]:
        try:
            # Bounded as a whole: behind a pooler whose server is gone or paused, the client
            # connection stays open and the check waits in the pooler's queue (PgBouncer's
            # query_wait_timeout, 120 s by default) instead of failing at once.
            async with (
                asyncio.timeout(database.timeout),
                database.pool.connection(timeout=database.timeout) as conn,
            ):
                await database.pool.check_connection(conn)
        except TimeoutError:
            return _unavailable(f"the database did not answer within {database.timeout:g}s")
        except psycopg.Error as error:
            return _unavailable(str(error) or None)
        return Response(Health(status="ok", database="up"), status_code=HTTP_200_OK)


def _unavailable(detail: str | None) -> Response[Health]:
    return Response(
        Health(status="unavailable", database="down", detail=detail),
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
    )
