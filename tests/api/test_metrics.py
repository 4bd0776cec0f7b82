"""GET /metrics: the Prometheus text of a database the test filled, its numbers those of
taskq.queue_stats, taskq.throughput and taskq.worker_info; the token; a database that is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from taskq import client
from tests.api.conftest import Client, free_port, login_as_member_of
from tests.api.test_tasks import problem
from tests.conftest import PgServer

TOKEN = "metrics-token"
# a queue name with what the text format must escape in a label value: \, " and a line break
ODD = 'odd "queue" \\ of\nmail €'
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> tuple[Samples, dict[str, Any]]:
    """The samples of each family by their labels, and the families by name."""
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples: Samples = {}
    for family in families.values():
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples, families


def by_queue(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["queue"]: value for labels, value in samples.get(name, {}).items()}


async def run_to(db: client.Connection, worker: Any, queue: str, count: int) -> list[client.Task]:
    tasks = await client.claim_next(db, worker, queues=[queue], names=["work"], batch_size=count)
    assert len(tasks) == count
    return tasks


async def fill(db: client.Connection) -> None:
    """mail (3 slots, a key limit and a rate limit): tasks in every status, one of a name no
    live worker handles, one task finished 5 minutes ago; bulk: no slot limit; held: paused;
    idle: no task; a queue whose name needs escaping. One worker alive, one presumed dead."""
    await client.set_concurrency(db, "mail", 3)
    await client.set_concurrency(db, "bulk", None)
    await client.set_concurrency(db, "idle", 1)
    alive = await client.register_worker(db, "alive", task_names=["work"])
    stale = await client.register_worker(db, "stale")
    for _ in range(4):
        await client.enqueue(db, "work", queue="mail", max_attempts=1)
    first = await run_to(db, alive, "mail", 3)
    for task in first[:2]:
        assert task.lease_token is not None
        await client.complete(db, task.id, task.lease_token)
    assert first[2].lease_token is not None
    await client.fail(db, first[2].id, first[2].lease_token, "boom")
    (old,) = await run_to(db, alive, "mail", 1)
    assert old.lease_token is not None
    await client.complete(db, old.id, old.lease_token)
    await db.execute(
        "UPDATE taskq.tasks SET finished_at = now() - interval '5 minutes' WHERE id = %s",
        (old.id,),
    )
    await client.enqueue(db, "work", queue="mail")
    await run_to(db, alive, "mail", 1)  # RUNNING
    cancelled = await client.enqueue(db, "work", queue="mail")
    await client.cancel(db, cancelled)
    paused = await client.enqueue(db, "work", queue="mail")
    await client.pause(db, paused)
    later = datetime.now(UTC) + timedelta(hours=1)
    await client.enqueue(db, "work", queue="mail", scheduled_at=later)
    for _ in range(2):
        await client.enqueue(db, "work", queue="mail")
    await client.enqueue(db, "orphan", queue="mail")  # no live worker has its handler
    await client.set_key_concurrency(db, "mail", 2)
    await client.set_rate_limit(db, "mail", 5, per=timedelta(seconds=10), burst=7)
    for _ in range(3):
        await client.enqueue(db, "work", queue="bulk")
    await client.enqueue(db, "work", queue="held")
    await client.enqueue(db, "work", queue=ODD)
    await client.pause_queue(db, "held")
    # silent for 10 minutes: presumed dead, and no longer counted as handling anything
    await db.execute(
        "UPDATE taskq.workers SET heartbeat_at = now() - interval '10 minutes' WHERE id = %s",
        (stale,),
    )


async def test_metrics_are_the_numbers_of_queue_stats_throughput_and_worker_info(
    api: Client, db: client.Connection
) -> None:
    await fill(db)
    before = {stats.queue: stats for stats in await client.queue_stats(db)}
    response = await api.get("/metrics")
    after = {stats.queue: stats for stats in await client.queue_stats(db)}
    finished = {row.queue: row for row in await client.throughput(db, timedelta(minutes=1), 1)}
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples, families = parse(response.text)
    assert all(family.documentation for family in families.values())
    assert {"mail", "bulk", "held", "idle", ODD} <= set(after)

    tasks: dict[str, dict[str, float]] = {}
    for labels, value in samples["taskq_tasks"].items():
        named = dict(labels)
        tasks.setdefault(named["queue"], {})[named["status"]] = value
    assert tasks["mail"] == {
        "queued": 3,
        "scheduled": 1,
        "running": 1,
        "paused": 1,
        "completed": 3,
        "failed": 1,
        "cancelled": 1,
    }
    columns = {"paused": "paused_tasks"}
    for queue, stats in after.items():
        for status, value in tasks[queue].items():
            column = columns.get(status, status)
            assert value == getattr(stats, column) == getattr(before[queue], column)
    assert set(tasks) == set(after)
    assert tasks[ODD]["queued"] == 1

    slots = by_queue(samples, "taskq_queue_slots")
    assert slots == {q: s.concurrency for q, s in after.items() if s.concurrency is not None}
    assert "bulk" not in slots
    assert slots["mail"] == 3
    assert by_queue(samples, "taskq_queue_paused") == {
        queue: (1 if stats.paused else 0) for queue, stats in after.items()
    }
    assert by_queue(samples, "taskq_queue_paused")["held"] == 1

    waits = by_queue(samples, "taskq_queue_oldest_wait_seconds")
    assert set(waits) == {q for q, s in after.items() if s.oldest_wait is not None}
    assert "idle" not in waits
    for queue, wait in waits.items():
        low, high = before[queue].oldest_wait, after[queue].oldest_wait
        assert low is not None
        assert high is not None
        assert low.total_seconds() <= wait <= high.total_seconds()

    unhandled = by_queue(samples, "taskq_queue_unhandled_tasks")
    assert unhandled == {queue: stats.unhandled for queue, stats in after.items()}
    assert unhandled["mail"] == 1
    assert by_queue(samples, "taskq_queue_key_concurrency") == {"mail": 2}
    assert by_queue(samples, "taskq_queue_rate_limit_per_second") == {"mail": 0.5}
    assert by_queue(samples, "taskq_queue_rate_limit_burst") == {"mail": 7}

    per_second: dict[str, dict[str, float]] = {}
    for labels, value in samples["taskq_tasks_finished_per_second"].items():
        named = dict(labels)
        per_second.setdefault(named["queue"], {})[named["outcome"]] = value
    assert set(per_second) == set(finished)
    for queue, row in finished.items():
        assert per_second[queue] == {
            "completed": row.completed / 60,
            "failed": row.failed / 60,
            "cancelled": row.cancelled / 60,
        }
    # the task finished 5 minutes ago is not in the last minute
    assert per_second["mail"] == {"completed": 2 / 60, "failed": 1 / 60, "cancelled": 1 / 60}
    assert per_second["bulk"] == {"completed": 0, "failed": 0, "cancelled": 0}

    workers = {dict(labels)["state"]: value for labels, value in samples["taskq_workers"].items()}
    assert workers == {"alive": 1, "presumed_dead": 1}
    alive = [worker.alive for worker in await client.list_workers(db)]
    assert sorted(alive) == [False, True]
    (duration,) = samples["taskq_scrape_duration_seconds"].values()
    assert 0 < duration < 60


async def test_metrics_of_a_database_without_tasks_are_zeros(
    api: Client, db: client.Connection
) -> None:
    queues = {stats.queue for stats in await client.queue_stats(db)}
    response = await api.get("/metrics")
    assert response.status_code == 200, response.text
    samples, _ = parse(response.text)
    assert set(by_queue(samples, "taskq_tasks")) == queues
    assert set(samples.get("taskq_tasks", {}).values()) <= {0}
    assert "taskq_queue_oldest_wait_seconds" not in samples
    workers = {dict(labels)["state"]: value for labels, value in samples["taskq_workers"].items()}
    assert workers == {"alive": 0, "presumed_dead": 0}


async def test_with_a_token_metrics_want_it(database_url: str) -> None:
    app = create_app(database_url, api_token=TOKEN, pool_timeout=1.0)
    async with AsyncTestClient(app=app) as api:
        missing = await api.get("/metrics")
        assert "Bearer" in problem(missing, 401)["detail"]
        problem(await api.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
        scraped = await api.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200, scraped.text
        samples, _ = parse(scraped.text)
        assert "taskq_workers" in samples


async def test_a_database_that_is_down_is_503_not_500() -> None:
    url = f"postgresql://taskq@127.0.0.1:{free_port()}/taskq?connect_timeout=2"
    app = create_app(url, pool_timeout=0.3)
    async with AsyncTestClient(app=app) as api:
        response = await api.get("/metrics")
        assert "database" in problem(response, 503)["detail"]
        assert response.headers["retry-after"] == "5"


async def test_a_scrape_the_database_does_not_answer_is_503_and_frees_its_connection(
    database_url: str, db: client.Connection
) -> None:
    """The tasks table locked (a migration, a VACUUM FULL): the scrape's reads are bounded,
    cancelled in the server, and their connection goes back to the pool, so scrapes that pile
    up while Prometheus retries cannot take the pool of every other route."""
    app = create_app(database_url, pool_timeout=1.0, pool_max_size=1)
    async with (
        AsyncTestClient(app=app) as api,
        await psycopg.AsyncConnection.connect(database_url) as locker,
    ):
        # the server ends the lock's transaction if this test does not (a scrape that hangs)
        await locker.execute("SET idle_in_transaction_session_timeout = '20s'")
        await locker.execute("LOCK TABLE taskq.tasks IN ACCESS EXCLUSIVE MODE")
        for _ in range(2):  # more scrapes than the pool has connections
            response = await api.get("/metrics")
            assert "did not answer" in problem(response, 503)["detail"]
        waiting = await db.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        assert await waiting.fetchone() == (0,)
        await locker.rollback()
        scraped = await api.get("/metrics")
        assert scraped.status_code == 200, scraped.text


async def test_an_api_whose_login_has_taskq_reader_only_serves_the_metrics(
    database_url: str, pg_server: PgServer
) -> None:
    """What the README's Metrics section says a scrape needs: taskq_reader; a producer's or a
    worker's login alone is 403, never 500."""
    with login_as_member_of(pg_server, database_url, "taskq_test_scraper", "taskq_reader") as url:
        async with AsyncTestClient(app=create_app(url, pool_timeout=2.0)) as api:
            scraped = await api.get("/metrics")
            assert scraped.status_code == 200, scraped.text
            assert "taskq_workers" in parse(scraped.text)[0]
            # the reader may not write
            problem(await api.post("/api/tasks/", json={"name": "x"}), 403)
    for role in ("taskq_producer", "taskq_worker"):
        with login_as_member_of(pg_server, database_url, f"{role}_test_scraper", role) as url:
            async with AsyncTestClient(app=create_app(url, pool_timeout=2.0)) as api:
                detail = problem(await api.get("/metrics"), 403)["detail"]
                assert "queue_stats" in detail
