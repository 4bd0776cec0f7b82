"""``taskq worker --metrics-port``: the worker's own Prometheus metrics count what it ran."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskq.pgserver import free_port
from tests.worker.helpers import (
    SyncConnection,
    WorkerProcess,
    enqueue,
    running_worker,
    statuses,
    wait_until,
)
from worker.listener import LISTEN_APPLICATION
from worker.metrics import WorkerMetrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def handled(samples: Samples, suffix: str) -> dict[tuple[str, str], float]:
    """``taskq_worker_handler_duration_seconds<suffix>`` by (task_name, outcome)."""
    name = f"taskq_worker_handler_duration_seconds{suffix}"
    return {
        (dict(labels)["task_name"], dict(labels)["outcome"]): value
        for (sample, labels), value in samples.items()
        if sample == name and "le" not in dict(labels)
    }


def test_the_metrics_endpoint_counts_what_the_worker_ran(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    port = free_port()
    with WorkerProcess(
        database_url,
        tmp_path / "w.log",
        "--import",
        "tests.worker.handlers",
        "--concurrency",
        "2",
        "--metrics-port",
        str(port),
    ) as process:
        process.wait_ready(conn)
        idle = scrape(port)
        assert idle[("taskq_worker_claimed_tasks_total", ())] == 0
        assert idle[("taskq_worker_running_tasks", ())] == 0
        ids = [enqueue(conn, "tests.add", {"a": n, "b": 1}) for n in range(3)]
        ids += [enqueue(conn, "tests.boom", max_attempts=1) for _ in range(2)]
        ids.append(
            enqueue(conn, "sleep", {"seconds": 30}, max_attempts=1, timeout=timedelta(seconds=0.2))
        )
        wait_until(
            lambda: statuses(conn, ids) == {"COMPLETED": 3, "FAILED": 3}, 30, "the tasks ran"
        )
        reports = {"completed": 3.0, "failed": 3.0, "retried": 0.0, "cancelled": 0.0}

        def reported() -> Samples | None:
            found = scrape(port)
            counted = {
                outcome: found[("taskq_worker_reports_total", (("outcome", outcome),))]
                for outcome in reports
            }
            return found if counted == reports else None

        samples = wait_until(reported, 15, f"the reports counted\n{process.log()}")
        assert process.process.poll() is None
    counts = handled(samples, "_count")
    assert counts == {
        ("tests.add", "completed"): 3,
        ("tests.boom", "failed"): 2,
        ("sleep", "timed_out"): 1,
    }
    for key, count in counts.items():
        labels = (("le", "+Inf"), ("outcome", key[1]), ("task_name", key[0]))
        assert samples[("taskq_worker_handler_duration_seconds_bucket", labels)] == count
    # the timeout's timer runs on the event loop's clock, which uvloop keeps in whole
    # milliseconds read at the start of each turn of the loop: by the time.monotonic() the
    # duration is measured with, it may fire a millisecond or two early
    assert handled(samples, "_sum")[("sleep", "timed_out")] >= 0.2 - 0.002
    assert samples[("taskq_worker_claimed_tasks_total", ())] == 6
    # at most 2 tasks (the concurrency) a claim
    assert samples[("taskq_worker_claims_total", ())] >= 3
    assert samples[("taskq_worker_reports_total", (("outcome", "dropped"),))] == 0
    assert samples[("taskq_worker_running_tasks", ())] == 0
    assert samples[("taskq_worker_reconnects_total", ())] == 0


def test_a_metrics_port_in_use_is_one_line_and_exit_2(
    database_url: str, conn: SyncConnection, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with WorkerProcess(
            database_url, tmp_path / "w.log", "--metrics-port", str(port)
        ) as process:
            assert process.wait(30) == 2
            log = process.log()
    assert f"cannot serve the worker's metrics on 127.0.0.1:{port}" in log, log
    assert "pick another --metrics-port" in log
    assert "Traceback" not in log
    assert len(log.strip().splitlines()) == 1, log
    assert process.worker_id(conn) is None


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"], ids=["name", "address"])
def test_a_metrics_host_that_cannot_be_had_is_one_line_naming_the_host_option(
    database_url: str, conn: SyncConnection, tmp_path: Path, host: str
) -> None:
    """A name that resolves to nothing, an address that is not this machine's: the host is
    what to change, not the port."""
    port = free_port()
    args = ("--metrics-port", str(port), "--metrics-host", host)
    with WorkerProcess(database_url, tmp_path / "w.log", *args) as process:
        assert process.wait(30) == 2
        log = process.log()
    assert f"cannot serve the worker's metrics on {host}:{port}" in log, log
    assert "check --metrics-host" in log, log
    assert "--metrics-port" not in log, log
    assert len(log.strip().splitlines()) == 1, log


async def test_a_lost_listen_connection_counts_one_reconnect(database_url: str) -> None:
    metrics = WorkerMetrics()
    reconnects = "taskq_worker_reconnects_total"
    async with running_worker(database_url, metrics=metrics, poll=0.2):
        assert metrics.registry.get_sample_value(reconnects) == 0
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (LISTEN_APPLICATION,),
            )
        for _ in range(200):
            if metrics.registry.get_sample_value(reconnects) == 1:
                break
            await asyncio.sleep(0.05)
        assert metrics.registry.get_sample_value(reconnects) == 1
