"""taskq's own figures: enqueue (SQL, enqueue_many, REST), drains, slot utilisation, latency.

Workers are real ``taskq worker`` processes (``python -m cli worker``) importing
:mod:`bench.handlers`; the API is a real ``taskq api`` process. Drains follow one recipe for
every system (see :func:`bench.drain.timed_drain`): the workers start and wait idle, all the
tasks are enqueued in one transaction, and the clock runs from its commit until no task is left.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import (
    REPO,
    BenchError,
    Processes,
    Progress,
    Recorder,
    spread,
    wait_until,
)
from bench.drain import DrainResult, timed_drain
from bench.scale import Scale
from bench.server import BenchServer
from taskq import client
from taskq.pgserver import free_port
from taskq.pool import configure

QUEUE = "bench"
# 1 while a task is left to run, else 0: each EXISTS stops at the first QUEUED or RUNNING task it
# finds, 0.1-0.2 ms a poll in a drain of 40,000 tasks, where a count read the table (bench/drain.py)
REMAINING = (
    "SELECT (EXISTS (SELECT FROM taskq.tasks WHERE status = 'QUEUED')"
    " OR EXISTS (SELECT FROM taskq.tasks WHERE status = 'RUNNING'))::int"
)


def worker_args(url: str, queue: str, concurrency: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cli",
        "worker",
        "--database-url",
        url,
        "--queue",
        queue,
        "--concurrency",
        str(concurrency),
        "--import",
        "bench.handlers",
        "--log-level",
        "WARNING",
        *extra,
    ]


def start_workers(
    procs: Processes, url: str, queue: str, concurrency: int, count: int, log: Path | None = None
) -> list[int]:
    """Start ``count`` worker processes and wait until all are registered (so listening)."""
    children = [procs.start(worker_args(url, queue, concurrency), log=log) for _ in range(count)]

    def registered() -> bool:
        for child in children:
            if child.poll() is not None:
                raise BenchError(f"a taskq worker exited with status {child.returncode}")
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM taskq.workers").fetchone()
        return row is not None and int(row[0]) >= count

    wait_until(registered, 60, f"{count} taskq worker(s) to register", every=0.1)
    return [child.pid for child in children]


def _sql(url: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _log_file(name: str) -> Path:
    folder = REPO / "bench" / "results" / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


# --- enqueue -----------------------------------------------------------------------------------
def enqueue_steps(scale: Scale) -> int:
    return 4


def run_enqueue(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    url = server.create_database("enqueue", taskq=True)
    try:
        progress.start("taskq: enqueue one at a time (client)")
        seconds = asyncio.run(enqueue_single_seconds(url, scale.enqueue_single))
        recorder.add(
            "taskq",
            "enqueue",
            round(scale.enqueue_single / seconds, 1),
            "tasks/s",
            {"via": "client", "clients": 1, "batch_size": 1, "count": scale.enqueue_single},
            {"seconds": round(seconds, 3), "driver": f"psycopg {psycopg.__version__}"},
        )
        progress.advance()

        progress.start("taskq: enqueue one at a time (pgbench)")
        _enqueue_pgbench(server, url, recorder, scale)
        progress.advance()

        total = scale.enqueue_many_batches * scale.enqueue_many_size
        for json_form in (False, True):
            form = "the JSON form" if json_form else "the client"
            progress.start(f"taskq: enqueue_many, batches of 1,000, {form}")
            seconds = asyncio.run(
                enqueue_many_seconds(
                    url, scale.enqueue_many_batches, scale.enqueue_many_size, json_form=json_form
                )
            )
            recorder.add(
                "taskq",
                "enqueue_many",
                round(total / seconds, 1),
                "tasks/s",
                {
                    "via": "enqueue_many(jsonb)" if json_form else "client",
                    "clients": 1,
                    "batch_size": scale.enqueue_many_size,
                    "count": total,
                },
                {
                    "seconds": round(seconds, 3),
                    "driver": f"psycopg {psycopg.__version__}",
                    "what": "taskq.enqueue_many(tasks jsonb), the JSON form, from psycopg"
                    if json_form
                    else "taskq.client.enqueue_many (the array form of taskq.enqueue_many)",
                },
            )
            progress.advance()
    finally:
        server.drop_database(url)


async def enqueue_single_seconds(url: str, count: int) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await client.enqueue(conn, "bench.noop", queue=QUEUE)  # the queue exists from here on
        started = time.perf_counter()
        for _ in range(count):
            await client.enqueue(conn, "bench.noop", queue=QUEUE)
        return time.perf_counter() - started


async def enqueue_many_seconds(
    url: str, batches: int, size: int, *, json_form: bool = False
) -> float:
    tasks = [{"name": "bench.noop", "queue": QUEUE} for _ in range(size)]

    async def json_call(conn: psycopg.AsyncConnection[Any], tasks: Any) -> list[Any]:
        cursor = await conn.execute(client.ENQUEUE_MANY_JSON, {"tasks": Jsonb(tasks)})
        return await cursor.fetchall()

    call = json_call if json_form else client.enqueue_many
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await client.enqueue(conn, "bench.noop", queue=QUEUE)
        await call(conn, tasks)  # warm-up: the function's plans are cached from here on
        started = time.perf_counter()
        for _ in range(batches):
            ids = await call(conn, tasks)
            if len(ids) != size:
                raise BenchError(f"enqueue_many returned {len(ids)} ids for {size} tasks")
        return time.perf_counter() - started


def _enqueue_pgbench(server: BenchServer, url: str, recorder: Recorder, scale: Scale) -> None:
    """taskq.enqueue from pgbench: the SQL function's own cost, no Python on the client side."""
    import tempfile

    from bench.floor import _parse, _pgbench

    with tempfile.TemporaryDirectory(prefix="taskq-bench-enqueue-") as folder:
        script = Path(folder) / "enqueue.sql"
        script.write_text("SELECT taskq.enqueue('bench.noop', queue => 'bench');\n")
        output = _pgbench(server, url, script, 1, scale.enqueue_single, 1)
    tps, done = _parse(output, "taskq enqueue")
    recorder.add(
        "taskq",
        "enqueue",
        round(tps, 1),
        "tasks/s",
        {"via": "pgbench", "clients": 1, "batch_size": 1, "count": done},
    )


# --- REST --------------------------------------------------------------------------------------
def api_steps(scale: Scale) -> int:
    return 1


def run_api(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    url = server.create_database("api", taskq=True)
    progress.start("taskq: POST /api/tasks/ one at a time")
    port = free_port()
    try:
        with Processes() as procs:
            api = procs.start(
                [
                    sys.executable,
                    "-m",
                    "cli",
                    "api",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--database-url",
                    url,
                    "--log-level",
                    "warning",
                ],
                env={"TASKQ_API_TOKEN": ""},
                log=_log_file("api"),
            )
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

            def healthy() -> bool:
                if api.poll() is not None:
                    raise BenchError(f"taskq api exited with status {api.returncode}")
                try:
                    connection.request("GET", "/health")
                    answer = connection.getresponse()
                    answer.read()
                    return answer.status == 200
                except OSError:
                    connection.close()
                    return False

            wait_until(healthy, 60, "taskq api to answer /health", every=0.1)
            body = json.dumps({"name": "bench.noop", "queue": QUEUE}).encode()
            headers = {"Content-Type": "application/json"}
            for _ in range(20):  # warm-up: the queue exists, the pool is open
                _post(connection, body, headers)
            started = time.perf_counter()
            for _ in range(scale.api_posts):
                _post(connection, body, headers)
            seconds = time.perf_counter() - started
            connection.close()
    finally:
        server.drop_database(url)
    recorder.add(
        "taskq",
        "enqueue",
        round(scale.api_posts / seconds, 1),
        "tasks/s",
        {"via": "POST /api/tasks/", "clients": 1, "batch_size": 1, "count": scale.api_posts},
        {"seconds": round(seconds, 3), "http": "HTTP/1.1 keep-alive, one connection"},
    )
    progress.advance()


def _post(connection: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> None:
    connection.request("POST", "/api/tasks/", body=body, headers=headers)
    answer = connection.getresponse()
    answer.read()
    if answer.status != 201:
        raise BenchError(f"POST /api/tasks/ answered {answer.status}")


# --- drains ------------------------------------------------------------------------------------
def drain_steps(scale: Scale) -> int:
    return 2 * len(scale.taskq_concurrency) + 2 * len(scale.floor_drain_clients) + 2


CLAIM_COMPLETE_MANY = """
WITH claimed AS (
    SELECT c.id, c.lease_token FROM taskq.claim_next(:worker_id, ARRAY['bench'], NULL,
                                                     '30 seconds', :batch) c
)
SELECT jsonb_agg(jsonb_build_object('task_id', c.id, 'lease_token', c.lease_token))::text AS done
FROM claimed c
\\gset
SELECT count(*) FROM taskq.complete_many(:done::jsonb);
"""

# The lean calls, where the schema has them: a claim that returns only what a worker needs and
# complete_many over arrays matched by position, returning a count.
LEAN_CALLS = (
    "taskq.claim(uuid, text[], text[], interval, integer)",
    "taskq.complete_many(uuid[], uuid[], jsonb[])",
)
CLAIM_COMPLETE_MANY_LEAN = """
WITH claimed AS (
    SELECT c.id, c.lease_token FROM taskq.claim(:worker_id, ARRAY['bench'], NULL,
                                                '30 seconds', :batch) c
)
SELECT array_agg(c.id)::text AS ids, array_agg(c.lease_token)::text AS tokens FROM claimed c
\\gset
SELECT taskq.complete_many(:ids::uuid[], :tokens::uuid[]);
"""


def run_drain(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    lean = _has_lean_calls(server)
    for clients in scale.floor_drain_clients:
        progress.start(
            f"taskq: claim_next + complete_many from pgbench, {clients} client(s), "
            f"batch {scale.drain_batch}"
        )
        _sql_drain(server, recorder, scale, clients)
        progress.advance()
        if lean:
            progress.start(
                f"taskq: claim + complete_many(arrays) from pgbench, {clients} client(s), "
                f"batch {scale.drain_batch}"
            )
            _sql_drain(server, recorder, scale, clients, lean=True)
        else:
            recorder.notes.append(
                "claim+complete_many (SQL), lean form: not measured, the schema has no "
                + " / ".join(LEAN_CALLS)
            )
        progress.advance()
    progress.start(f"taskq: drain {scale.drain_tasks:,} tasks, the client's batch loop")
    result = asyncio.run(_client_loop_drain(server, scale.drain_tasks, scale.drain_batch))
    recorder.add(
        "taskq",
        "drain (client batch loop)",
        round(result.rate, 1),
        "tasks/s",
        {
            "processes": 1,
            "batch_size": scale.drain_batch,
            "count": scale.drain_tasks,
            "via": "claim_next + complete_many",
            "queue": "unlimited",
        },
        {
            **result.detail(),
            "what": "the bench's own minimal loop over taskq.client in one process: "
            "claim_next(batch) -> no-op handlers -> complete_many; no heartbeats, no "
            "LISTEN: what a worker that reports in batches can reach",
        },
    )
    progress.advance()
    for processes in (1, 2):
        for concurrency in scale.taskq_concurrency:
            progress.start(
                f"taskq: drain {scale.drain_tasks:,} tasks, {processes} process(es), "
                f"concurrency {concurrency}"
            )
            result = drain_taskq(server, scale.drain_tasks, processes, concurrency)
            recorder.add(
                "taskq",
                "drain",
                round(result.rate, 1),
                "tasks/s",
                {
                    "processes": processes,
                    "concurrency": concurrency,
                    # the worker claims as many as it has free capacity: up to its concurrency
                    "batch_size": concurrency,
                    "count": scale.drain_tasks,
                    "queue": "unlimited",
                },
                result.detail(),
            )
            progress.advance()
    _slot_limited_drain(server, recorder, scale, progress)


def _slot_limited_drain(
    server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress
) -> None:
    """The unlimited drain's recipe on a queue with slots, one process, at a concurrency of as
    many as the slots: beside the unlimited drain at that concurrency, what a limit that never
    holds the worker back costs (above it, the limit binds by design)."""
    slots = concurrency = scale.drain_slots
    progress.start(
        f"taskq: drain {scale.drain_tasks:,} tasks, 1 process, concurrency {concurrency}, "
        f"a queue of {slots} slots"
    )
    result = drain_taskq(server, scale.drain_tasks, 1, concurrency, queue_concurrency=slots)
    recorder.add(
        "taskq",
        "drain (slot-limited queue)",
        round(result.rate, 1),
        "tasks/s",
        {
            "processes": 1,
            "concurrency": concurrency,
            "batch_size": concurrency,
            "count": scale.drain_tasks,
            "slots": slots,
            "queue": f"{slots} slots",
        },
        {
            **result.detail(),
            "what": "the unlimited drain's recipe on a queue with set_concurrency(queue, "
            f"{slots}), by a worker of concurrency {concurrency}",
        },
    )
    progress.advance()


def _has_lean_calls(server: BenchServer) -> bool:
    url = server.create_database("leancheck", taskq=True)
    try:
        found = _sql(
            url,
            "SELECT bool_and(to_regprocedure(f) IS NOT NULL) FROM unnest(%s::text[]) AS f",
            (list(LEAN_CALLS),),
        )
    finally:
        server.drop_database(url)
    return bool(found)


def _sql_drain(
    server: BenchServer, recorder: Recorder, scale: Scale, clients: int, *, lean: bool = False
) -> None:
    """taskq's SQL alone, as the floor's claim+complete is measured: no Python, no handler.
    ``lean``: taskq.claim and complete_many over arrays instead of claim_next and the JSON form."""
    import tempfile

    from bench.floor import _parse, _pgbench

    batch = scale.drain_batch
    per_client = max(scale.claim_rows_batch // (clients * batch), 1)
    rows = per_client * clients * batch
    url = server.create_database("sqldrain", taskq=True)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT taskq.set_concurrency(%s, NULL)", (QUEUE,))
            conn.execute(
                "INSERT INTO taskq.tasks (queue, name) SELECT %s, 'bench.noop'"
                " FROM generate_series(1, %s)",
                (QUEUE, rows + 4 * clients * batch),
            )
            conn.execute("VACUUM ANALYZE taskq.tasks")
            row = conn.execute("SELECT taskq.register_worker('bench-pgbench')").fetchone()
            assert row is not None
            worker_id = row[0]
        with tempfile.TemporaryDirectory(prefix="taskq-bench-sql-") as folder:
            script = Path(folder) / "claim_complete_many.sql"
            text = CLAIM_COMPLETE_MANY_LEAN if lean else CLAIM_COMPLETE_MANY
            script.write_text(text.replace(":worker_id", f"'{worker_id}'"))
            output = _pgbench(server, url, script, clients, per_client, batch)
        tps, done = _parse(output, "taskq claim+complete_many")
        completed = _sql(url, "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED'")
        if completed != done * batch:
            raise BenchError(f"claim+complete_many: {completed} completed, expected {done * batch}")
    finally:
        server.drop_database(url)
    recorder.add(
        "taskq",
        "claim+complete_many (SQL)",
        round(tps * batch, 1),
        "tasks/s",
        {
            "via": "pgbench",
            "clients": clients,
            "batch_size": batch,
            "count": completed,
            "calls": "claim + complete_many(arrays)"
            if lean
            else "claim_next + complete_many(jsonb)",
        },
        {
            "transactions_per_second": round(tps, 1),
            "what": (
                "taskq.claim(batch) then complete_many(task_ids, lease_tokens) of the batch"
                if lean
                else "claim_next(batch) then complete_many of the batch"
            )
            + ", from pgbench: the SQL engine's drain rate without Python, beside the "
            "floor's claim+complete",
        },
    )


async def _client_loop_drain(server: BenchServer, tasks: int, batch: int) -> DrainResult:
    url = server.create_database("clientloop", taskq=True)
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await configure(conn)  # what the worker's pooled connections use
            await client.set_concurrency(conn, QUEUE, None)
            await client.enqueue_many(conn, [{"name": "bench.noop", "queue": QUEUE}] * tasks)
            worker_id = await client.register_worker(conn, "bench-loop")
            from bench.handlers import noop

            started = time.time()
            left = tasks
            deadline = time.monotonic() + max(120.0, tasks / 50)
            while left > 0 and time.monotonic() < deadline:
                claimed = await client.claim_next(conn, worker_id, queues=[QUEUE], batch_size=batch)
                results = await asyncio.gather(*(noop(t.payload, None) for t in claimed))  # type: ignore[arg-type]
                await client.complete_many(
                    conn,
                    [
                        client.Completion(t.id, t.lease_token, r)
                        for t, r in zip(claimed, results, strict=True)
                        if t.lease_token is not None
                    ],
                )
                left -= len(claimed)
            seconds = time.time() - started
        if left > 0:
            raise BenchError(f"client batch loop: {left} of {tasks} tasks left")
        return DrainResult(tasks, seconds, 0.0)
    finally:
        server.drop_database(url)


def drain_taskq(
    server: BenchServer,
    tasks: int,
    processes: int,
    concurrency: int,
    *,
    queue_concurrency: int | None = None,
    name: str = "bench.noop",
    payload: dict[str, Any] | None = None,
    setup: tuple[str, ...] = (),
    keys: int | None = None,
) -> DrainResult:
    """``setup``: SQL run on the queue first (``%s`` is the queue); ``keys``: the tasks get
    concurrency keys ``k0`` .. ``k{keys - 1}`` in turn."""
    url = server.create_database("drain", taskq=True)
    try:
        _sql(
            url, "SELECT concurrency FROM taskq.set_concurrency(%s, %s)", (QUEUE, queue_concurrency)
        )
        for statement in setup:
            _sql(url, statement, (QUEUE,))
        with Processes() as procs:
            start_workers(procs, url, QUEUE, concurrency, processes, log=_log_file("taskq-worker"))
            batch = [{"name": name, "queue": QUEUE, "payload": payload or {}} for _ in range(tasks)]
            if keys is not None:
                for index, task in enumerate(batch):
                    task["concurrency_key"] = f"k{index % keys}"

            def enqueue() -> None:
                asyncio.run(_enqueue_all(url, batch))

            result = timed_drain(
                url, REMAINING, tasks, enqueue, timeout=min(max(60.0, tasks / 100), 300.0)
            )
        done = _sql(url, "SELECT count(*) FROM taskq.tasks WHERE status = 'COMPLETED'")
        if done != tasks:
            raise BenchError(f"taskq drain: {done} of {tasks} tasks COMPLETED")
        result.database = _db_span(url)
        return result
    finally:
        server.drop_database(url)


async def _enqueue_all(url: str, batch: list[dict[str, Any]]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await client.enqueue_many(conn, batch)


def _db_span(url: str) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM min(started_at)), extract(epoch FROM max(finished_at)),"
            " extract(epoch FROM min(created_at)) FROM taskq.tasks"
        ).fetchone()
    if row is None or row[0] is None:
        return {}
    return {"first_start": float(row[0]), "last_finish": float(row[1]), "created": float(row[2])}


# --- slots -------------------------------------------------------------------------------------
def slot_steps(scale: Scale) -> int:
    return 2


def run_slots(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    ideal_rate = scale.slot_count / scale.slot_task_seconds
    for processes in (1, 2):
        progress.start(
            f"taskq: {scale.slot_tasks} tasks of {scale.slot_task_seconds * 1000:.0f} ms on "
            f"{scale.slot_count} slots, {processes} process(es)"
        )
        result = drain_taskq(
            server,
            scale.slot_tasks,
            processes,
            8,
            queue_concurrency=scale.slot_count,
            name="sleep",
            payload={"seconds": scale.slot_task_seconds},
        )
        span = result.database["last_finish"] - result.database["first_start"]
        ideal = scale.slot_tasks * scale.slot_task_seconds / scale.slot_count
        recorder.add(
            "taskq",
            "slot utilisation",
            round(100 * ideal / span, 2),
            "%",
            {
                "processes": processes,
                "concurrency": 8,
                "slots": scale.slot_count,
                "task_seconds": scale.slot_task_seconds,
                "count": scale.slot_tasks,
            },
            {
                "ideal_rate": ideal_rate,
                "achieved_rate": round(scale.slot_tasks / span, 2),
                "first_start_to_last_finish_s": round(span, 3),
                "enqueue_commit_to_last_finish_s": round(result.seconds, 3),
                "measured_as": "ideal time (n x task / slots) / "
                "(last finished_at - first started_at)",
            },
        )
        progress.advance()


# --- latency and lateness ----------------------------------------------------------------------
def latency_steps(scale: Scale) -> int:
    return 3


def run_latency(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    url = server.create_database("latency", taskq=True)
    try:
        with Processes() as procs:
            start_workers(procs, url, "latency", 4, 1, log=_log_file("taskq-worker"))
            progress.start(f"taskq: enqueue-to-start latency, {scale.latency_samples} samples")
            sent, committed, ids = _latency_samples(url, scale)
            started = _stamps(url, ids, timeout=30)
            from_call = [(started[i] - sent[n]) * 1000 for n, i in enumerate(ids)]
            from_commit = [(started[i] - committed[n]) * 1000 for n, i in enumerate(ids)]
            stats = spread(from_call)
            recorder.add(
                "taskq",
                "enqueue-to-start latency",
                stats["p50"],
                "ms",
                {
                    "processes": 1,
                    "concurrency": 4,
                    "count": len(ids),
                    "queue": "default slots (2)",
                },
                {
                    **stats,
                    "measured_as": "handler's time.time() at start - time.time() before the "
                    "enqueue call was sent",
                    "from_commit": spread(from_commit),
                    "gap_between_samples_s": scale.latency_gap,
                },
            )
            progress.advance()

            progress.start("taskq: claim round trip, back to back and after a pause")
            for pause in (0.0, scale.latency_gap):
                times = asyncio.run(_claim_round_trips(url, scale.latency_samples, pause))
                recorder.add(
                    "taskq",
                    "claim round trip",
                    spread(times)["p50"],
                    "ms",
                    {"clients": 1, "batch_size": 1, "count": len(times), "pause_s": pause},
                    {
                        **spread(times),
                        "measured_as": "client.claim_next of one due task, from the call to its "
                        "answer, each task enqueued and completed outside the timing; pause_s: "
                        "the client sleeps that long before each claim, as an idle worker does",
                    },
                )
            progress.advance()

            progress.start(f"taskq: lateness of {scale.lateness_samples} scheduled tasks")
            late = _lateness(url, scale)
            stats = spread(late)
            recorder.add(
                "taskq",
                "scheduled lateness",
                stats["p50"],
                "ms",
                {"processes": 1, "concurrency": 4, "count": len(late)},
                {
                    **stats,
                    "measured_as": "handler's time.time() at start - scheduled_at",
                    "window_s": scale.lateness_window,
                },
            )
            progress.advance()
    finally:
        server.drop_database(url)


async def _claim_round_trips(url: str, count: int, pause: float) -> list[float]:
    queue = f"roundtrip{int(pause * 1000)}"
    times: list[float] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await configure(conn)
        worker_id = await client.register_worker(conn, "bench-round-trip")
        for n in range(count + 10):  # the first ten warm up, not counted
            await client.enqueue(conn, "bench.noop", queue=queue)
            if pause:
                await asyncio.sleep(pause)
            started = time.perf_counter()
            [task] = await client.claim_next(conn, worker_id, queues=[queue])
            if n >= 10:
                times.append((time.perf_counter() - started) * 1000)
            assert task.lease_token is not None
            await client.complete(conn, task.id, task.lease_token)
        await client.unregister_worker(conn, worker_id)
    return times


def _latency_samples(url: str, scale: Scale) -> tuple[list[float], list[float], list[Any]]:
    sent: list[float] = []
    committed: list[float] = []
    ids: list[Any] = []
    rng = random.Random(6)
    with psycopg.connect(url, autocommit=True) as conn:
        query = "SELECT taskq.enqueue('bench.stamp', queue => 'latency')"
        for _ in range(5):  # warm-up, not counted
            conn.execute(query)
            time.sleep(scale.latency_gap)
        time.sleep(0.2)
        for _ in range(scale.latency_samples):
            before = time.time()
            row = conn.execute(query).fetchone()
            after = time.time()
            assert row is not None
            sent.append(before)
            committed.append(after)
            ids.append(row[0])
            # an idle worker each time: the previous task is long done
            time.sleep(scale.latency_gap * rng.uniform(0.8, 1.2))
    return sent, committed, ids


def _stamps(url: str, ids: list[Any], timeout: float) -> dict[Any, float]:
    def finished() -> dict[Any, float] | None:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT id, (result ->> 'started')::float8 FROM taskq.tasks"
                " WHERE id = ANY (%s) AND status = 'COMPLETED'",
                (ids,),
            ).fetchall()
        return {row[0]: float(row[1]) for row in rows} if len(rows) == len(ids) else None

    return wait_until(finished, timeout, f"{len(ids)} stamped tasks to complete", every=0.2)


def _lateness(url: str, scale: Scale) -> list[float]:
    rng = random.Random(7)
    base = datetime.now(UTC) + timedelta(seconds=0.5)
    offsets = sorted(rng.uniform(0, scale.lateness_window) for _ in range(scale.lateness_samples))
    tasks = [
        {
            "name": "bench.stamp",
            "queue": "latency",
            "scheduled_at": (base + timedelta(seconds=offset)).isoformat(),
        }
        for offset in offsets
    ]

    async def enqueue() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return list(await client.enqueue_many(conn, tasks))

    ids = asyncio.run(enqueue())
    started = _stamps(url, ids, timeout=scale.lateness_window + 30)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, extract(epoch FROM scheduled_at)::float8 FROM taskq.tasks"
            " WHERE id = ANY (%s)",
            (ids,),
        ).fetchall()
    return [(started[row[0]] - float(row[1])) * 1000 for row in rows]
