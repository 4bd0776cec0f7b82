"""``/api/throughput``: per queue, the tasks finished in each of the last stretches of time."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Final

from litestar import Controller, get
from litestar.params import Parameter

from api.deps import ConnectionDep
from api.errors import problem_responses
from api.schemas import ThroughputOut
from taskq import client

# taskq.throughput's bounds: 1 second <= bucket <= 1 day, 1 <= buckets <= 1440
BUCKET_MAX: Final = 86_400
BUCKETS_MAX: Final = 1440


class ThroughputController(Controller):
    """Throughput: read through ``taskq.throughput``."""

    path = "/api/throughput"
    tags = ["queues"]

    @get(
        "/",
        operation_id="throughput",
        summary="Per queue, the tasks finished in each of the last stretches of time, by outcome",
        description="Calls `taskq.throughput`: one row per queue and bucket of `bucket` seconds, "
        "the last `buckets` of them, oldest first, the last ending now; how many tasks ended "
        "COMPLETED, FAILED (for good: an attempt that retries is no finish) and CANCELLED in "
        "[bucket_start, bucket_end). A bucket with none is a row of zeros; pruned tasks are not "
        "counted.",
        responses=problem_responses(400, 401, 503),
    )
    async def throughput(
        self,
        conn: ConnectionDep,
        bucket: Annotated[
            int,
            Parameter(
                ge=1, le=BUCKET_MAX, description=f"seconds per bucket (1 to {BUCKET_MAX}: a day)"
            ),
        ] = 60,
        buckets: Annotated[
            int,
            Parameter(ge=1, le=BUCKETS_MAX, description=f"how many buckets (1 to {BUCKETS_MAX})"),
        ] = 30,
    ) -> list[ThroughputOut]:
        rows = await client.throughput(conn, timedelta(seconds=bucket), buckets)
        return [ThroughputOut.of(row) for row in rows]
