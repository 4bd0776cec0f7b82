"""The peers, PgQueuer and Procrastinate, on the same server, with no-op tasks.

They are installed from PyPI by name into their own virtual environment, ``bench/.peers-venv``
(made on first use, reused after; delete it to take newer releases), never vendored, and run
through their own CLIs (``pgq run``, ``procrastinate worker``) and APIs (the scripts
:mod:`bench.peer_pgqueuer` and :mod:`bench.peer_procrastinate`, run with the peers' Python).
Each measure gets a fresh database with the peer's schema installed by its own CLI.

- enqueue: one job at a time, and batches of 1,000 (PgQueuer's list enqueue, Procrastinate's
  ``batch_defer_async``), from one connection;
- drain: the recipe of :mod:`bench.drain`, by one and two worker processes, at each of the
  settings in the scale (PgQueuer's ``--batch-size``, Procrastinate's ``--concurrency``); the
  best is what the targets compare against;
- latency (PgQueuer): enqueue to handler start on an idle worker, as for taskq.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

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

BENCH = REPO / "bench"
VENV = BENCH / ".peers-venv"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ["pgqueuer[asyncpg]", "procrastinate", "psycopg[binary]"]
DISTRIBUTIONS = ["pgqueuer", "asyncpg", "procrastinate", "psycopg"]


def steps(scale: Scale) -> int:
    pgqueuer = 2 + 2 * len(scale.pgqueuer_batch) + 1
    procrastinate = 2 + 2 * len(scale.procrastinate_concurrency)
    return 1 + pgqueuer + procrastinate


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    progress.start("peers: PgQueuer and Procrastinate from PyPI into bench/.peers-venv")
    versions = ensure_venv()
    progress.advance()
    pgqueuer_settings = {
        "pgqueuer": versions.get("pgqueuer"),
        "driver": f"asyncpg {versions.get('asyncpg')}",
    }
    procrastinate_settings = {
        "procrastinate": versions.get("procrastinate"),
        "driver": f"psycopg {versions.get('psycopg')}",
    }
    _pgqueuer(server, recorder, scale, progress, pgqueuer_settings)
    _procrastinate(server, recorder, scale, progress, procrastinate_settings)


# --- the virtual environment -------------------------------------------------------------------
def ensure_venv() -> dict[str, str]:
    """Make bench/.peers-venv and install the peers from PyPI when they are missing."""
    if not PYTHON.exists():
        _run([sys.executable, "-m", "venv", str(VENV)], timeout=300)
    versions = _versions()
    if any(name not in versions for name in DISTRIBUTIONS):
        _run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
            timeout=600,
        )
        versions = _versions()
    missing = [name for name in DISTRIBUTIONS if name not in versions]
    if missing:
        raise BenchError(f"could not install {', '.join(missing)} into {VENV}")
    return versions


def _versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "found = {}\n"
        f"for name in {DISTRIBUTIONS!r}:\n"
        "    try:\n"
        "        found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(found))\n"
    )
    out = _run([str(PYTHON), "-c", code], timeout=60)
    found: dict[str, str] = json.loads(out)
    return found


def _run(
    args: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path = BENCH
) -> str:
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(BENCH), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{' '.join(args[:4])} ran over {timeout:.0f} s") from error
    if result.returncode != 0:
        raise BenchError(
            f"{' '.join(args[:4])} failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-1500:]}"
        )
    return result.stdout


def _script(name: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = _run([str(PYTHON), f"peer_{name}.py", *args], timeout=600, env=env)
    value: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return value


def _count(url: str, query: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _log(name: str) -> Path:
    folder = BENCH / "results" / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


# --- PgQueuer ----------------------------------------------------------------------------------
PGQ = str(VENV / "bin" / "pgq")
# 1 while a job is left (PgQueuer deletes a job once done), else 0: the primary key's first entry
PGQ_LEFT = "SELECT EXISTS (SELECT FROM pgqueuer ORDER BY id LIMIT 1)::int"


def _pgq_database(server: BenchServer) -> str:
    url = server.create_database("pgqueuer")
    _run([PGQ, "--pg-dsn", url, "install"], timeout=120)
    return url


def _pgqueuer(
    server: BenchServer,
    recorder: Recorder,
    scale: Scale,
    progress: Progress,
    settings: dict[str, Any],
) -> None:
    progress.start("PgQueuer: enqueue one at a time, then in batches of 1,000")
    single, batched = pgqueuer_enqueue_seconds(server, scale)
    size, batches = scale.enqueue_many_size, scale.enqueue_many_batches
    recorder.add(
        "pgqueuer",
        "enqueue",
        round(scale.enqueue_single / single, 1),
        "tasks/s",
        {
            **settings,
            "via": "Queries.enqueue",
            "clients": 1,
            "batch_size": 1,
            "count": scale.enqueue_single,
        },
        {"seconds": round(single, 3)},
    )
    progress.advance()
    recorder.add(
        "pgqueuer",
        "enqueue batch",
        round(batches * size / batched, 1),
        "tasks/s",
        {
            **settings,
            "via": "Queries.enqueue(lists)",
            "clients": 1,
            "batch_size": size,
            "count": batches * size,
        },
        {"seconds": round(batched, 3)},
    )
    progress.advance()

    for processes in (1, 2):
        for batch in scale.pgqueuer_batch:
            progress.start(
                f"PgQueuer: drain {scale.drain_tasks:,} jobs, {processes} process(es), "
                f"--batch-size {batch}"
            )
            result = drain_pgqueuer(server, scale.drain_tasks, processes, batch)
            recorder.add(
                "pgqueuer",
                "drain",
                round(result.rate, 1),
                "tasks/s",
                {
                    **settings,
                    "processes": processes,
                    "batch_size": batch,
                    "count": scale.drain_tasks,
                    "via": "pgqueuer.run",
                },
                result.detail(),
            )
            progress.advance()

    progress.start(f"PgQueuer: enqueue-to-start latency, {scale.latency_samples} samples")
    url = _pgq_database(server)
    try:
        with tempfile.TemporaryDirectory(prefix="taskq-bench-pgq-") as folder:
            stamps = Path(folder) / "stamps"
            stamps.touch()
            with Processes() as procs:
                _pgq_workers(procs, url, 1, 10, stamps=stamps)
                sent = _script(
                    "pgqueuer",
                    "latency",
                    url,
                    str(scale.latency_samples),
                    str(scale.latency_gap),
                )

                def all_stamped() -> dict[str, float] | None:
                    found = dict(line.split() for line in stamps.read_text().splitlines())
                    if all(job in found for job in sent):
                        return {job: float(found[job]) for job in sent}
                    return None

                started = wait_until(all_stamped, 30, "PgQueuer's stamp jobs", every=0.2)
    finally:
        server.drop_database(url)
    latencies = [(started[job] - sent[job]) * 1000 for job in sent]
    stats = spread(latencies)
    recorder.add(
        "pgqueuer",
        "enqueue-to-start latency",
        stats["p50"],
        "ms",
        {**settings, "processes": 1, "batch_size": 10, "count": len(latencies)},
        {
            **stats,
            "measured_as": "handler's time.time() at start - time.time() before the enqueue "
            "call was sent",
        },
    )
    progress.advance()


def pgqueuer_enqueue_seconds(server: BenchServer, scale: Scale) -> tuple[float, float]:
    """On a fresh PgQueuer database: the seconds of ``enqueue_single`` jobs enqueued one at a
    time, then of ``enqueue_many_batches`` batches of ``enqueue_many_size``, from one
    connection."""
    url = _pgq_database(server)
    try:
        single = _script("pgqueuer", "single", url, str(scale.enqueue_single))["seconds"]
        batched = _script(
            "pgqueuer",
            "batch",
            url,
            str(scale.enqueue_many_batches),
            str(scale.enqueue_many_size),
        )["seconds"]
    finally:
        server.drop_database(url)
    return float(single), float(batched)


def drain_pgqueuer(server: BenchServer, tasks: int, processes: int, batch: int) -> DrainResult:
    """The drain recipe (:mod:`bench.drain`) on a fresh PgQueuer database: ``processes``
    workers of ``--batch-size batch``, ``tasks`` no-op jobs enqueued in one transaction."""
    url = _pgq_database(server)
    try:
        with Processes() as procs:
            _pgq_workers(procs, url, processes, batch)
            return timed_drain(
                url,
                PGQ_LEFT,
                tasks,
                lambda: _script("pgqueuer", "bulk", url, str(tasks))["committed"],
                timeout=min(max(60.0, tasks / 100), 300.0),
            )
    finally:
        server.drop_database(url)


def _pgq_workers(
    procs: Processes, url: str, processes: int, batch: int, stamps: Path | None = None
) -> None:
    env = {"BENCH_DSN": url, "BENCH_STAMPS": str(stamps or os.devnull)}
    # pgqueuer.run(create), as `pgq run peer_pgqueuer:create --batch-size N` would do
    args = [str(PYTHON), "peer_pgqueuer.py", "worker", url, str(batch)]
    children = [
        procs.start(args, env=env, log=_log("pgqueuer-worker"), cwd=BENCH) for _ in range(processes)
    ]
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench-pgqueuer'"

    def connected() -> bool:
        for child in children:
            if child.poll() is not None:
                raise BenchError(f"a PgQueuer worker exited with status {child.returncode}")
        return _count(url, query) >= processes

    wait_until(connected, 60, f"{processes} PgQueuer worker(s) to connect", every=0.1)
    _warm_up(url, PGQ_LEFT, lambda: _script("pgqueuer", "bulk", url, str(20 * processes)))


def _warm_up(url: str, left: str, enqueue: Any) -> None:
    """A few jobs through the workers before the clock runs: they are up and listening."""
    time.sleep(0.5)
    enqueue()
    wait_until(lambda: _count(url, left) == 0, 60, "the warm-up jobs to run", every=0.05)
    time.sleep(0.3)


# --- Procrastinate -----------------------------------------------------------------------------
PROCRASTINATE = str(VENV / "bin" / "procrastinate")
APP = "peer_procrastinate.app"
PROCRASTINATE_LEFT = (
    "SELECT EXISTS (SELECT FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))::int"
)


def _procrastinate_database(server: BenchServer) -> str:
    url = server.create_database("procrastinate")
    _run([PROCRASTINATE, f"--app={APP}", "schema", "--apply"], timeout=120, env={"BENCH_DSN": url})
    return url


def _procrastinate(
    server: BenchServer,
    recorder: Recorder,
    scale: Scale,
    progress: Progress,
    settings: dict[str, Any],
) -> None:
    url = _procrastinate_database(server)
    env = {"BENCH_DSN": url}
    try:
        progress.start("Procrastinate: defer one at a time")
        count = scale.enqueue_single
        seconds = _script("procrastinate", "single", url, str(count), env=env)["seconds"]
        recorder.add(
            "procrastinate",
            "enqueue",
            round(count / seconds, 1),
            "tasks/s",
            {**settings, "via": "defer_async", "clients": 1, "batch_size": 1, "count": count},
            {"seconds": round(seconds, 3)},
        )
        progress.advance()
        progress.start("Procrastinate: batch_defer_async of 1,000")
        size, batches = scale.enqueue_many_size, scale.enqueue_many_batches
        seconds = _script("procrastinate", "batch", url, str(batches), str(size), env=env)[
            "seconds"
        ]
        recorder.add(
            "procrastinate",
            "enqueue batch",
            round(batches * size / seconds, 1),
            "tasks/s",
            {
                **settings,
                "via": "batch_defer_async",
                "clients": 1,
                "batch_size": size,
                "count": batches * size,
            },
            {"seconds": round(seconds, 3)},
        )
        progress.advance()
    finally:
        server.drop_database(url)

    tasks = scale.procrastinate_tasks
    for processes in (1, 2):
        for concurrency in scale.procrastinate_concurrency:
            progress.start(
                f"Procrastinate: drain {tasks:,} jobs, {processes} process(es), "
                f"--concurrency {concurrency}"
            )
            url = _procrastinate_database(server)
            env = {"BENCH_DSN": url, "BENCH_POOL_SIZE": str(concurrency + 2)}
            try:
                with Processes() as procs:
                    _procrastinate_workers(procs, url, env, processes, concurrency)
                    result = timed_drain(
                        url,
                        PROCRASTINATE_LEFT,
                        tasks,
                        lambda url=url, env=env: _script(  # type: ignore[misc]
                            "procrastinate", "bulk", url, str(tasks), env=env
                        )["committed"],
                        timeout=min(max(60.0, tasks / 10), 300.0),
                    )
            finally:
                server.drop_database(url)
            recorder.add(
                "procrastinate",
                "drain",
                round(result.rate, 1),
                "tasks/s",
                {
                    **settings,
                    "processes": processes,
                    "concurrency": concurrency,
                    "count": tasks,
                    "via": "procrastinate worker",
                },
                result.detail(),
            )
            progress.advance()


def _procrastinate_workers(
    procs: Processes, url: str, env: dict[str, str], processes: int, concurrency: int
) -> None:
    args = [
        PROCRASTINATE,
        f"--app={APP}",
        "worker",
        "--queues",
        "bench",
        "--concurrency",
        str(concurrency),
    ]
    children = [
        procs.start(
            args, env={**env, "PYTHONPATH": str(BENCH)}, log=_log("procrastinate-worker"), cwd=BENCH
        )
        for _ in range(processes)
    ]

    def registered() -> bool:
        for child in children:
            if child.poll() is not None:
                raise BenchError(f"procrastinate worker exited with status {child.returncode}")
        return _count(url, "SELECT count(*) FROM procrastinate_workers") >= processes

    wait_until(registered, 60, f"{processes} Procrastinate worker(s) to register", every=0.1)
    _warm_up(
        url,
        PROCRASTINATE_LEFT,
        lambda: _script("procrastinate", "bulk", url, str(10 * processes), env=env),
    )
