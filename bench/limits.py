"""What the queue limits cost the claim: drains with and without a per-key limit and with a rate
limit that does not bind, interleaved in one run (ratios to the plain drain of the same round),
and the claim's latency with 10,000 queued tasks of a full key ahead of the others."""

from __future__ import annotations

import statistics
import time

import psycopg

from bench.common import Progress, Recorder
from bench.scale import Scale
from bench.server import BenchServer
from bench.taskq_bench import QUEUE, drain_taskq

ROUNDS = 2
KEYS = 100
KEY_LIMIT = 5
# far above any drain of this machine: the bucket is read and spent, never empty
RATE = "SELECT taskq.set_rate_limit(%s, 1000000, burst => 1000000)"
KEY_CONCURRENCY = f"SELECT taskq.set_key_concurrency(%s, {KEY_LIMIT})"
AHEAD = 10_000
SAMPLES = 200
# the worker's concurrency in every drain: below the KEYS x KEY_LIMIT tasks the key limit lets
# run, so that the drains measure what the limit costs, not the limit holding the worker back
CONCURRENCY = 200

CASES = {
    "plain": {},
    f"key limit {KEY_LIMIT}, {KEYS} keys": {"setup": (KEY_CONCURRENCY,), "keys": KEYS},
    f"{KEYS} keys, no key limit": {"keys": KEYS},
    "rate limit (not binding)": {"setup": (RATE,)},
}


def steps(scale: Scale) -> int:
    return ROUNDS * len(CASES) + 2


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    concurrency = CONCURRENCY
    rates: dict[str, list[float]] = {case: [] for case in CASES}
    for round_ in range(ROUNDS):
        for case, options in CASES.items():
            progress.start(f"limits: drain {scale.drain_tasks:,} tasks, {case}, round {round_ + 1}")
            result = drain_taskq(server, scale.drain_tasks, 1, concurrency, **options)  # type: ignore[arg-type]
            rates[case].append(result.rate)
            progress.advance()
    for case, values in rates.items():
        ratios = [value / plain for value, plain in zip(values, rates["plain"], strict=True)]
        recorder.add(
            "taskq",
            f"drain ({case})",
            round(statistics.median(values), 1),
            "tasks/s",
            {
                "processes": 1,
                "concurrency": concurrency,
                "count": scale.drain_tasks,
                "queue": "unlimited",
            },
            {
                "rounds": [round(v, 1) for v in values],
                "ratio_to_plain": [round(r, 3) for r in ratios],
                "what": "1 worker process, rounds interleaved with the plain drain; ratio = this "
                "drain / the plain drain of the same round",
            },
        )
    for full_key_ahead in (False, True):
        label = f"{AHEAD:,} tasks of a full key ahead" if full_key_ahead else "no backlog"
        progress.start(f"limits: claim latency, key limit 1, {label}")
        p50, p99 = _claim_latency(server, full_key_ahead)
        recorder.add(
            "taskq",
            f"claim p50, key-limited queue ({label})",
            round(p50 * 1000, 3),
            "ms",
            {"batch_size": 1, "samples": SAMPLES, "key_limit": 1},
            {
                "p99_ms": round(p99 * 1000, 3),
                "what": "claim_next of one task of a free key, each claimed task completed untimed",
            },
        )
        progress.advance()


def _claim_latency(server: BenchServer, full_key_ahead: bool) -> tuple[float, float]:
    url = server.create_database("limits", taskq=True)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT taskq.set_concurrency(%s, NULL)", (QUEUE,))
            conn.execute("SELECT taskq.set_key_concurrency(%s, 1)", (QUEUE,))
            worker = conn.execute("SELECT taskq.register_worker('bench')").fetchone()[0]  # type: ignore[index]
            if full_key_ahead:
                conn.execute(
                    "SELECT taskq.enqueue('bench.noop', queue => %s, concurrency_key => 'big')",
                    (QUEUE,),
                )
                conn.execute("SELECT taskq.claim_next(%s, ARRAY[%s])", (worker, QUEUE))
                conn.execute(
                    "SELECT taskq.enqueue('bench.noop', queue => %s, concurrency_key => 'big')"
                    " FROM generate_series(1, %s)",
                    (QUEUE, AHEAD),
                )
            conn.execute("VACUUM ANALYZE taskq.tasks")
            timings: list[float] = []
            for index in range(SAMPLES):
                conn.execute(
                    "SELECT taskq.enqueue('bench.noop', queue => %s, concurrency_key => %s)",
                    (QUEUE, f"free{index}"),
                )
                began = time.perf_counter()
                row = conn.execute(
                    "SELECT id, lease_token FROM taskq.claim(%s, ARRAY[%s])", (worker, QUEUE)
                ).fetchone()
                timings.append(time.perf_counter() - began)
                assert row is not None, "the free key's task was not claimed"
                conn.execute("SELECT taskq.complete(%s, %s)", row)
        timings.sort()
        return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
    finally:
        server.drop_database(url)
