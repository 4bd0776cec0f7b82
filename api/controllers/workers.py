"""``/api/workers``: the registered workers, their running tasks, alive or presumed dead."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from api.deps import ConnectionDep
from api.errors import problem_responses
from api.schemas import WorkerOut
from taskq import client


class WorkerController(Controller):
    """Workers: read through ``taskq.worker_info``."""

    path = "/api/workers"
    tags = ["workers"]

    @get(
        "/",
        operation_id="listWorkers",
        summary="Every registered worker, with its running tasks and whether it is alive",
        description="Reads `taskq.worker_info`, by name then start: each worker's host, pid, "
        "queues (null: all) and task names (null: any), its start and last heartbeat, its lease "
        "in seconds, how many tasks it runs, and `alive` (false once its last heartbeat is older "
        "than its lease: presumed dead until the maintenance turn removes it and rescues its "
        "tasks). `alive=true` or `alive=false` keeps only those.",
        responses=problem_responses(400, 401, 503),
    )
    async def list_workers(
        self,
        conn: ConnectionDep,
        alive: Annotated[
            bool | None,
            Parameter(description="only the live workers (true) or the presumed dead (false)"),
        ] = None,
    ) -> list[WorkerOut]:
        workers = await client.list_workers(conn)
        return [WorkerOut.of(row) for row in workers if alive is None or row.alive is alive]
