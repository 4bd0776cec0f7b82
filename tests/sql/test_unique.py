"""Unique tasks: a unique_key is taken while its task is live (or finished less than its
unique_for ago); enqueueing it again answers that task. The checks of the per-task options."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from taskq import client, errors
from tests.sql.conftest import Conn, claim, enqueue, one, raises_sqlstate, task

ARRAYS = """
SELECT id, created FROM taskq.enqueue_many(%(names)s::text[], NULL, unique_keys => %(keys)s::text[],
                                           unique_fors => %(fors)s::interval[],
                                           concurrency_keys => %(ckeys)s::text[],
                                           timeouts => %(timeouts)s::interval[])
"""


def arrays(conn: Conn, names: list[str], **kwargs: Any) -> list[tuple[UUID, bool]]:
    params = {"names": names, "keys": None, "fors": None, "ckeys": None, "timeouts": None}
    params.update(kwargs)
    return [(row[0], row[1]) for row in conn.execute(ARRAYS, params).fetchall()]


def json_many(conn: Conn, tasks: list[dict[str, Any]]) -> list[tuple[UUID, bool]]:
    rows = conn.execute("SELECT id, created FROM taskq.enqueue_many(%s)", (Jsonb(tasks),))
    return [(row[0], row[1]) for row in rows.fetchall()]


def finish(conn: Conn, worker_id: UUID, task_id: UUID, ago: timedelta = timedelta(0)) -> None:
    """Claims and completes the task, its finished_at moved ``ago`` into the past."""
    (claimed,) = claim(conn, worker_id)
    assert claimed["id"] == task_id
    conn.execute("SELECT taskq.complete(%s, %s)", (task_id, claimed["lease_token"]))
    conn.execute(
        "UPDATE taskq.tasks SET finished_at = finished_at - %s WHERE id = %s", (ago, task_id)
    )


def test_options_are_stored_by_every_form(conn: Conn) -> None:
    single = enqueue(
        conn,
        unique_key="u1",
        unique_for=timedelta(minutes=5),
        concurrency_key="c",
        timeout=timedelta(seconds=30),
    )
    ((from_json, _),) = json_many(
        conn,
        [{"name": "job", "unique_key": "u2", "unique_for": "PT5M", "concurrency_key": "c",
          "timeout": "30 seconds"}],
    )  # fmt: skip
    ((from_arrays, _),) = arrays(
        conn,
        ["job"],
        keys=["u3"],
        fors=[timedelta(minutes=5)],
        ckeys=["c"],
        timeouts=[timedelta(seconds=30)],
    )
    for task_id, key in ((single, "u1"), (from_json, "u2"), (from_arrays, "u3")):
        row = task(conn, task_id)
        assert (row["unique_key"], row["unique_for"], row["concurrency_key"], row["timeout"]) == (
            key,
            timedelta(minutes=5),
            "c",
            timedelta(seconds=30),
        )


BAD_OPTIONS = [
    ({"unique_key": ""}, "unique_key", "empty or blank"),
    ({"unique_key": " \t"}, "unique_key", "empty or blank"),
    ({"unique_key": "k" * 257}, "unique_key", "at most 256"),
    ({"concurrency_key": ""}, "concurrency_key", "empty or blank"),
    ({"concurrency_key": "k" * 257}, "concurrency_key", "at most 256"),
    ({"unique_for": timedelta(seconds=-1)}, "unique_for", "from 0 to 100 years"),
    # bounded: a worker must be able to decode every interval of the rows it claims
    ({"unique_for": timedelta(days=36525 + 25)}, "unique_for", "from 0 to 100 years"),
    ({"timeout": timedelta(0)}, "timeout", "more than 0 and at most 1 year"),
    ({"timeout": timedelta(seconds=-5)}, "timeout", "more than 0 and at most 1 year"),
    ({"timeout": timedelta(days=366)}, "timeout", "more than 0 and at most 1 year"),
]


@pytest.mark.parametrize(("options", "key", "match"), BAD_OPTIONS)
def test_bad_options_are_refused_by_every_form(
    conn: Conn, options: dict[str, Any], key: str, match: str
) -> None:
    value = options[key]
    json_value = f"{value.total_seconds()} seconds" if isinstance(value, timedelta) else value
    for call, field in (
        (lambda: enqueue(conn, **options), key),
        (lambda: json_many(conn, [{"name": "ok"}, {"name": "job", key: json_value}]),
         f"tasks[1].{key}"),
        (lambda: arrays(conn, ["ok", "job"], **{
            {"unique_key": "keys", "unique_for": "fors", "concurrency_key": "ckeys",
             "timeout": "timeouts"}[key]: [None, value]}),
         f"{key}s[2]"),
    ):  # fmt: skip
        with pytest.raises(psycopg.Error) as info:
            call()
        assert info.value.sqlstate == "22023"
        assert info.value.diag.column_name == field
        assert match in str(info.value)
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 0


def test_an_infinite_timeout_is_refused(conn: Conn) -> None:
    if conn.info.server_version < 170000:
        pytest.skip("PostgreSQL has infinite intervals from 17 on")
    with raises_sqlstate("22023", "more than 0 and at most 1 year"):
        conn.execute("SELECT taskq.enqueue('job', timeout => 'infinity')")
    with raises_sqlstate("22023", "from 0 to 100 years"):
        conn.execute("SELECT taskq.enqueue('job', unique_for => 'infinity')")


def test_an_interval_too_long_for_a_client_is_refused_even_by_a_direct_write(conn: Conn) -> None:
    """3,000,000 years is past Python's timedelta: a worker that claimed such a task could not
    read its batch. The table refuses it too, for a write that bypasses enqueue."""
    for value in ("'3000000 years'", "'1 year 1 day'"):
        with raises_sqlstate("23514", "tasks_timeout_range"):
            conn.execute(
                f"INSERT INTO taskq.tasks (queue, name, timeout) VALUES ('q', 'job', {value})"
            )
    with raises_sqlstate("23514", "tasks_unique_for_range"):
        conn.execute(
            "INSERT INTO taskq.tasks (queue, name, unique_for) VALUES ('q', 'job', '3000000 years')"
        )


def test_a_live_key_answers_its_task(conn: Conn, worker_id: UUID) -> None:
    first = enqueue(conn, unique_key="report:1")
    assert enqueue(conn, "other", unique_key="report:1", queue="elsewhere") == first
    conn.execute("SELECT taskq.pause(%s)", (first,))
    assert enqueue(conn, unique_key="report:1") == first
    conn.execute("SELECT taskq.resume(%s)", (first,))
    claim(conn, worker_id)
    assert enqueue(conn, unique_key="report:1") == first  # RUNNING
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 1
    # a task without a key, or of another key, is added as before
    assert enqueue(conn) != first
    assert enqueue(conn, unique_key="report:2") != first


def test_a_finished_key_is_free_unless_unique_for(conn: Conn, worker_id: UUID) -> None:
    plain = enqueue(conn, unique_key="k")
    finish(conn, worker_id, plain)
    again = enqueue(conn, unique_key="k")
    assert again != plain
    assert task(conn, plain)["unique_key"] is None  # given up to the new task
    assert task(conn, again)["unique_key"] == "k"
    conn.execute("SELECT taskq.cancel(%s)", (again,))

    held = enqueue(conn, unique_key="held", unique_for=timedelta(hours=1))
    finish(conn, worker_id, held, ago=timedelta(minutes=59))
    assert enqueue(conn, unique_key="held") == held
    conn.execute(
        "UPDATE taskq.tasks SET finished_at = finished_at - interval '2 minutes' WHERE id = %s",
        (held,),
    )
    assert enqueue(conn, unique_key="held") != held


def test_a_cancelled_holder_frees_its_key(conn: Conn) -> None:
    first = enqueue(conn, unique_key="k")
    conn.execute("SELECT taskq.cancel(%s)", (first,))
    assert enqueue(conn, unique_key="k") != first


def test_enqueue_many_says_which_tasks_are_new(conn: Conn) -> None:
    old = enqueue(conn, unique_key="a")
    answer = arrays(conn, ["t1", "t2", "t3", "t4", "t5"], keys=["a", "b", None, "b", None])
    assert answer[0] == (old, False)
    assert answer[1][1] is True
    assert answer[2][1] is True
    assert answer[3] == (answer[1][0], False)  # a duplicate in the call: the first one
    assert answer[4][1] is True
    assert len({task_id for task_id, _ in answer}) == 4
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 4
    assert task(conn, answer[1][0])["name"] == "t2"

    answer = json_many(
        conn, [{"name": "j1", "unique_key": "b"}, {"name": "j2", "unique_key": "c"},
               {"name": "j3", "unique_key": "c"}, {"name": "j4"}],
    )  # fmt: skip
    assert answer[0] == (arrays(conn, ["x"], keys=["b"])[0][0], False)
    assert answer[1][1] is True
    assert answer[2] == (answer[1][0], False)
    assert answer[3][1] is True


def test_enqueue_many_without_keys_answers_created(conn: Conn) -> None:
    assert [created for _, created in arrays(conn, ["a", "b"])] == [True, True]
    assert [created for _, created in json_many(conn, [{"name": "a"}])] == [True]


def test_a_retried_task_runs_without_a_key_another_took(conn: Conn, worker_id: UUID) -> None:
    first = enqueue(conn, unique_key="k", max_attempts=1)
    (claimed,) = claim(conn, worker_id)
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (first, claimed["lease_token"]))
    assert task(conn, first)["status"] == "FAILED"
    second = enqueue(conn, unique_key="k")
    assert second != first
    conn.execute("SELECT taskq.retry(%s)", (first,))
    assert (task(conn, first)["status"], task(conn, first)["unique_key"]) == ("QUEUED", None)
    assert enqueue(conn, unique_key="k") == second

    # a failed holder whose key nobody took keeps it when retried
    lone = enqueue(conn, unique_key="lone", max_attempts=1, queue="lone")
    (claimed,) = claim(conn, worker_id, queues=["lone"])
    conn.execute("SELECT taskq.fail(%s, %s, 'boom')", (lone, claimed["lease_token"]))
    conn.execute("SELECT taskq.retry(%s)", (lone,))
    assert enqueue(conn, unique_key="lone") == lone


def test_the_key_lookup_uses_the_unique_index(conn: Conn) -> None:
    conn.execute("SELECT taskq.enqueue_many(array_fill('job'::text, ARRAY[2000]), NULL)")
    conn.execute("ANALYZE taskq.tasks")
    plan = "\n".join(
        row[0]
        for row in conn.execute(
            "EXPLAIN SELECT t.id FROM taskq.tasks t WHERE t.unique_key = 'k'"
        ).fetchall()
    )
    assert "tasks_unique_key" in plan


def test_concurrent_enqueues_of_one_key_give_one_task(
    conn: Conn, database_url: str, worker_id: UUID
) -> None:
    # a finished holder first: the enqueues race to take its key over too
    finished = enqueue(conn, unique_key="only")
    finish(conn, worker_id, finished)
    threads, per_thread, deadline = 8, 125, time.monotonic() + 120
    answers: list[UUID] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def run() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                start.wait(timeout=30)
                for _ in range(per_thread):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the enqueues took longer than two minutes")
                    answer = one(own, "SELECT taskq.enqueue('job', unique_key => 'only')")
                    with lock:
                        answers.append(answer)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=150)
    assert not errors, errors
    assert len(answers) == threads * per_thread == 1000
    assert len(set(answers)) == 1
    assert answers[0] != finished
    assert one(conn, "SELECT count(*) FROM taskq.tasks WHERE unique_key = 'only'") == 1
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == 2


def test_batches_sharing_keys_in_opposite_orders_do_not_deadlock(
    conn: Conn, database_url: str
) -> None:
    """Each batch takes its keys in key order, whatever its input order: two batches of the same
    keys, one reversed, never hold a key the other waits for while waiting for one it holds."""
    keys = [f"k{n:04}" for n in range(1500)]
    results: dict[str, list[tuple[UUID, bool]]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(label: str, order: list[str]) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                own.execute("SET statement_timeout = '60s'")
                start.wait(timeout=30)
                results[label] = arrays(own, ["job"] * len(order), keys=order)
        except BaseException as error:
            errors.append(error)

    batches = [
        threading.Thread(target=run, args=("up", keys)),
        threading.Thread(target=run, args=("down", keys[::-1])),
    ]
    for thread in batches:
        thread.start()
    for thread in batches:
        thread.join(timeout=90)
    assert not errors, errors
    assert one(conn, "SELECT count(*) FROM taskq.tasks") == len(keys)
    # each answer in its batch's input order; every key added once over both
    key_of = dict(conn.execute("SELECT id, unique_key FROM taskq.tasks").fetchall())
    for label, order in (("up", keys), ("down", keys[::-1])):
        assert [key_of[task_id] for task_id, _ in results[label]] == order
    assert sum(created for _, created in results["up"] + results["down"]) == len(keys)


def test_the_client_says_which_tasks_are_new(conn: Conn, database_url: str) -> None:
    async def go() -> tuple[UUID, UUID, list[client.Enqueued], list[client.Enqueued]]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
            single = await client.enqueue(
                aconn,
                "job",
                unique_key="c",
                unique_for=timedelta(minutes=1),
                concurrency_key="tenant",
                timeout=timedelta(seconds=9),
            )
            again = await client.enqueue(aconn, "job", unique_key="c")
            # timedeltas and texts in one batch; then the JSON form (an unknown key)
            each = await client.enqueue_each(
                aconn,
                [
                    {"name": "a", "unique_key": "c"},
                    {"name": "b", "unique_key": "d", "timeout": timedelta(days=1, microseconds=5)},
                    {"name": "c", "unique_key": "d", "timeout": "5 minutes"},
                ],
            )
            with pytest.raises(errors.InvalidArgument) as info:
                await client.enqueue_each(aconn, [{"name": "x", "timeout": timedelta(0)}])
            assert info.value.field == "tasks[0].timeout"
            json_form = await client.enqueue_each(
                aconn, [{"name": "a", "unique_key": "d", "unique_for": timedelta(seconds=1)}]
            )
            return single, again, each, json_form

    single, again, each, json_form = asyncio.run(go())
    assert again == single
    assert each[0] == client.Enqueued(single, created=False)
    assert each[1].created is True
    assert each[2] == client.Enqueued(each[1].id, created=False)
    assert json_form == [client.Enqueued(each[1].id, created=False)]
    assert task(conn, each[1].id)["timeout"] == timedelta(days=1, microseconds=5)
    assert task(conn, single)["concurrency_key"] == "tenant"
