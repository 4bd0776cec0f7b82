"""``/health``: 200 when the database answers, 503 when it does not. Never behind the token."""

from __future__ import annotations

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
            async with database.pool.connection(timeout=database.timeout) as conn:
                await database.pool.check_connection(conn)
        except psycopg.Error as error:
            return Response(
                Health(status="unavailable", database="down", detail=str(error) or None),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(Health(status="ok", database="up"), status_code=HTTP_200_OK)
