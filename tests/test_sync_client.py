"""taskq.sync.SyncClient: the async client's calls, blocking, on a pool of its own or on the
application's connection; the same rows and the same taskq errors; in plain threads; behind
PgBouncer in transaction pooling."""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

from taskq import client
from taskq.client import Task, TaskSummary
from taskq.errors import Conflict, Forbidden, InvalidArgument, NotFound, Unavailable
from taskq.sync import SyncClient

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def taskq(database_url: str) -> Iterator[SyncClient]:
    with SyncClient(database_url, max_size=4) as client:
        yield client


def claim_one(conn: Conn) -> UUID:
    """Claim a task as a worker would (the sync client has no worker calls)."""
    worker = conn.execute("SELECT taskq.register_worker('w')").fetchone()
    assert worker is not None
    row = conn.execute("SELECT id FROM taskq.claim_next(%s)", (worker[0],)).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def test_enqueue_get_and_list_give_the_rows_of_the_async_client(taskq: SyncClient) -> None:
    later = datetime(2999, 1, 1, tzinfo=UTC)
    task_id = taskq.enqueue(
        "send_email", {"to": "ada@example.com"}, priority="HIGH", queue="mail", max_attempts=5
    )
    scheduled = taskq.enqueue("report", scheduled_at=later)
    task = taskq.get_task(task_id)
    assert isinstance(task, Task)
    assert (task.name, task.queue, task.priority, task.max_attempts, task.status) == (
        "send_email",
        "mail",
        "HIGH",
        5,
        "QUEUED",
    )
    assert task.payload == {"to": "ada@example.com"}
    assert taskq.get_task(scheduled).scheduled_at == later

    page = taskq.list_tasks(page_size=1)
    assert [t.id for t in page.items] == [scheduled]
    assert page.next_cursor == scheduled
    rest = taskq.list_tasks(after=page.next_cursor)
    assert [t.id for t in rest.items] == [task_id]
    lean = taskq.list_tasks(queue="mail", include=[])
    assert type(lean.items[0]) is TaskSummary
    assert lean.items[0].id == task_id


def test_enqueue_many_in_both_forms_and_its_errors_name_the_task(taskq: SyncClient) -> None:
    ids = taskq.enqueue_many([{"name": "a"}, {"name": "b", "payload": {"n": 1}, "queue": "q"}])
    assert [taskq.get_task(i).name for i in ids] == ["a", "b"]
    with pytest.raises(InvalidArgument) as array_form:
        taskq.enqueue_many([{"name": "a"}, {"name": "b", "max_attempts": 0}])
    assert array_form.value.field == "tasks[1].max_attempts"
    with pytest.raises(InvalidArgument) as json_form:
        taskq.enqueue_many([{"name": "a"}, {"name": "b", "colour": "red"}])
    assert json_form.value.field is not None
    assert json_form.value.field.startswith("tasks[1]")
    assert taskq.list_tasks().items == [taskq.get_task(i) for i in reversed(ids)]


def test_task_acts_and_their_errors_are_the_taskq_errors(taskq: SyncClient, conn: Conn) -> None:
    task_id = taskq.enqueue("job")
    assert taskq.pause(task_id, reason="hold").status == "PAUSED"
    assert taskq.resume(task_id).status == "QUEUED"
    assert taskq.cancel(task_id).status == "CANCELLED"
    assert taskq.retry(task_id).status == "QUEUED"

    claimed = claim_one(conn)
    assert claimed == task_id
    with pytest.raises(Conflict) as conflict:
        taskq.pause(task_id)
    assert (conflict.value.sqlstate, conflict.value.task_id) == ("55000", task_id)
    assert conflict.value.task_status == "RUNNING"
    missing = uuid4()
    with pytest.raises(NotFound) as not_found:
        taskq.get_task(missing)
    assert not_found.value.task_id == missing
    with pytest.raises(InvalidArgument) as invalid:
        taskq.enqueue("job", max_attempts=0)
    assert (invalid.value.sqlstate, invalid.value.field) == ("22023", "max_attempts")
    with pytest.raises(InvalidArgument):
        taskq.enqueue("job", {"text": "a NUL \x00 in it"})


def test_queue_settings_stats_maintenance_and_the_audit(taskq: SyncClient) -> None:
    taskq.enqueue("job", queue="q")
    assert taskq.set_concurrency("q", 3).concurrency == 3
    assert taskq.pause_queue("q").paused
    assert not taskq.resume_queue("q").paused
    taskq.set_retention("q", completed=timedelta(days=1), failed=None)
    (stats,) = [s for s in taskq.queue_stats() if s.queue == "q"]
    assert (stats.queued, stats.concurrency) == (1, 3)
    assert taskq.get_queue_stats("q").queued == 1
    with pytest.raises(NotFound):
        taskq.get_queue_stats("nowhere")
    with pytest.raises(InvalidArgument):
        taskq.set_concurrency("q", 0)
    assert taskq.prune().total == 0
    assert taskq.maintain().ran
    assert "tasks" in {row.table_name for row in taskq.table_health()}
    assert isinstance(taskq.cleanup_holders(), list)
    actions = [entry.action for entry in taskq.list_audit(queue="q").items]
    assert actions[:3] == ["set_retention", "resume_queue", "pause_queue"]


def test_acting_as_records_the_actor_and_rolls_back_with_an_error(taskq: SyncClient) -> None:
    task_id = taskq.enqueue("job")
    with taskq.acting_as("alice") as admin:
        admin.pause(task_id, reason="by hand")
    (entry,) = taskq.list_audit(task_id=task_id).items
    assert (entry.actor, entry.reason, entry.action) == ("alice", "by hand", "pause")

    def resume_then_fail() -> None:
        with taskq.acting_as("bob") as admin:
            admin.resume(task_id)
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        resume_then_fail()
    assert taskq.get_task(task_id).status == "PAUSED"
    assert len(taskq.list_audit(task_id=task_id).items) == 1


def test_plain_threads_share_one_client(taskq: SyncClient) -> None:
    made: list[UUID] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce(n: int) -> None:
        try:
            ids = [taskq.enqueue("threaded", {"thread": n, "i": i}) for i in range(25)]
            with lock:
                made.extend(ids)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(set(made)) == 200
    (stats,) = taskq.queue_stats()
    assert stats.queued == 200


def test_on_the_applications_connection_an_enqueue_is_part_of_its_transaction(
    database_url: str,
) -> None:
    # as Django's psycopg backend connects: client-side binding, jsonb read as text (the client
    # leaves that alone)
    with psycopg.connect(database_url, cursor_factory=psycopg.ClientCursor) as conn:
        conn.adapters.register_loader("jsonb", TextLoader)
        taskq = SyncClient(connection=conn)
        with conn.transaction():
            kept = taskq.enqueue("kept", {"n": 1})
            (many,) = taskq.enqueue_many([{"name": "many", "payload": {"m": [1]}, "queue": "q"}])
        assert taskq.get_task(many).queue == "q"

        def enqueue_then_fail() -> None:
            with conn.transaction():
                taskq.enqueue("dropped")
                raise RuntimeError("the view failed")

        with pytest.raises(RuntimeError):
            enqueue_then_fail()
        assert taskq.get_task(kept).payload == {"n": 1}
        assert taskq.list_tasks(queue="q").items[0].payload == {"m": [1]}
        conn.commit()
        rows = conn.execute("SELECT name, payload FROM taskq.tasks ORDER BY id").fetchall()
        assert rows == [("kept", '{"n": 1}'), ("many", '{"m": [1]}')]


def test_on_an_application_connection_of_dict_rows_every_call_reads_its_rows(
    database_url: str,
) -> None:
    # an application whose connection makes dicts of its rows: the client reads its own rows
    # by position whatever the connection's row factory
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        taskq = SyncClient(connection=conn)
        one = taskq.enqueue("one", queue="dicts")
        arrays = taskq.enqueue_many([{"name": "arrays", "queue": "dicts"}] * 2)
        # a task that is not a plain dict goes as the JSON form
        json_form = taskq.enqueue_many([OrderedDict(name="json", queue="dicts")])
        listed = taskq.list_tasks(queue="dicts").items
        assert {task.id for task in listed} == {one, *arrays, *json_form}
        assert conn.execute("SELECT count(*) AS n FROM taskq.tasks").fetchone() == {"n": 4}


def test_a_role_without_the_grant_gets_forbidden(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET ROLE taskq_reader")
        taskq = SyncClient(connection=conn)
        assert taskq.list_tasks().items == []
        with pytest.raises(Forbidden) as forbidden:
            taskq.enqueue("job")
        assert forbidden.value.sqlstate == "42501"


def test_a_database_that_does_not_answer_is_unavailable() -> None:
    with (
        SyncClient("postgresql://taskq@127.0.0.1:9/taskq", wait=1) as taskq,
        pytest.raises(Unavailable),
    ):
        taskq.get_task(uuid4())


def test_behind_pgbouncer_in_transaction_pooling(pooled_database_url: str) -> None:
    """The same statements, run more often than psycopg's prepare threshold, on connections
    that PgBouncer serves from different server connections."""
    with SyncClient(pooled_database_url, max_size=2, prepare="auto") as taskq:
        ids = [taskq.enqueue("pooled", {"i": i}) for i in range(12)]
        assert [taskq.get_task(i).payload for i in ids] == [{"i": i} for i in range(12)]
        with taskq.connection() as conn:
            assert conn.prepare_threshold is None


def test_each_method_has_the_parameters_and_doc_of_its_async_function() -> None:
    own = {"connection", "close", "acting_as"}
    wrapped = [name for name in vars(SyncClient) if name[0] != "_" and name not in own]
    assert len(wrapped) == 19
    for name in wrapped:
        function, method = getattr(client, name), getattr(SyncClient, name)
        assert method.__doc__ == function.__doc__, name
        parameters = list(inspect.signature(method).parameters.values())
        assert parameters[0].name == "self", name
        assert parameters[1:] == list(inspect.signature(function).parameters.values())[1:], name
