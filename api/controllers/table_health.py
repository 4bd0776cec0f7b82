"""``/api/health/tables``: the taskq tables' sizes and dead tuples, and what holds back VACUUM."""

from __future__ import annotations

from litestar import Controller, get

from api.deps import ConnectionDep
from api.errors import problem_responses
from api.schemas import CleanupHolderOut, TableHealthOut, TablesHealthOut
from taskq import client


class TableHealthController(Controller):
    path = "/api/health"
    tags = ["health"]

    @get(
        "/tables",
        operation_id="tableHealth",
        summary="The taskq tables' sizes and dead tuples, and what holds back their cleanup",
        description="Reads `taskq.table_health` (one row per table: sizes in bytes, live and "
        "dead tuples, the last (auto)vacuum and analyze) and `taskq.cleanup_holders` (the "
        "sessions, standbys, prepared transactions and replication slots that keep old rows "
        "visible, oldest first; `is_horizon` marks the one that holds back the taskq tables).",
        responses=problem_responses(401, 503),
    )
    async def table_health(self, conn: ConnectionDep) -> TablesHealthOut:
        tables = await client.table_health(conn)
        holders = await client.cleanup_holders(conn)
        return TablesHealthOut(
            tables=[TableHealthOut.of(row) for row in tables],
            cleanup_holders=[CleanupHolderOut.of(row) for row in holders],
        )
