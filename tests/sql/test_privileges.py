"""Least privilege: who may call what, connected as LOGIN roles that are members of one taskq role
each; the owner; PUBLIC. The deploy as a non-superuser with CREATEROLE, the one line when roles
cannot be made, and the revert with two databases on one server run on a server of their own, so
that the roles can be made and dropped there.

A function added to the schema goes into MATRIX (and into the GRANTs of its deploy script), or
test_every_public_function_has_a_role fails.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from taskq import migrate
from taskq.pgserver import LocalServer, embedded_bin_dir
from tests.conftest import FAST_SETTINGS, PgServer
from tests.sql.conftest import Conn, one, raises_sqlstate

ROLES = ("taskq_producer", "taskq_worker", "taskq_reader", "taskq_admin")
# what an application may call, per role (taskq_admin: its own and those of the three others)
TIME_TO_EXECUTE = {
    "taskq.time_to_execute(taskq.tasks, timestamptz)",
    # the views and time_to_execute call it; EXECUTE is checked against their caller
    "taskq._elapsed(timestamptz, timestamptz)",
}
PRODUCER = {
    "taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, "
    "text, interval, text, interval, jsonb)",
    "taskq.enqueue_many(jsonb)",
    "taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], "
    "text[], interval[], text[], interval[], jsonb[])",
    "taskq.get_task(uuid)",
}
WORKER = {
    "taskq.register_worker(text, text[], text, integer, text[])",
    "taskq.unregister_worker(uuid)",
    "taskq.heartbeat(uuid, interval, uuid[])",
    "taskq.held_tasks(uuid)",
    "taskq.claim_next(uuid, text[], text[], interval, integer)",
    "taskq.claim(uuid, text[], text[], interval, integer)",
    "taskq.complete(uuid, uuid, jsonb)",
    "taskq.fail(uuid, uuid, text, interval, timestamptz)",
    "taskq.complete_many(jsonb)",
    "taskq.complete_many(uuid[], uuid[], jsonb[])",
    "taskq.fail_many(jsonb)",
    "taskq.fail_many(uuid[], uuid[], text[], interval[])",
    "taskq.rescue_expired()",
    "taskq.next_due(text[])",
    "taskq.maintain(integer)",
    "taskq.run_schedules()",
    # the worker declares the schedules of its handlers (@task(cron=...)) when it starts
    "taskq.declare_schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text)",
    "taskq.held_claims(uuid)",
    "taskq.report_progress(uuid, uuid, jsonb)",
    "taskq.report_progress(uuid[], uuid[], jsonb[])",
}
READER = {
    "taskq.get_task(uuid)",
    "taskq.list_tasks(taskq.status, text, text, uuid, integer)",
    "taskq.list_tasks_page(taskq.status, text, text, uuid, integer)",
    "taskq.get_queue_stats(text)",
    "taskq.list_audit(uuid, text, text, timestamptz, timestamptz, bigint, integer)",
    # the view taskq.cleanup_holders calls it; EXECUTE is checked against the view's reader
    "taskq._cleanup_holders()",
    "taskq.cron_next(text, text, timestamptz)",
    "taskq.get_schedule(text)",
    "taskq.throughput(interval, integer)",
}
ADMIN = {
    "taskq.pause(uuid, text)",
    "taskq.resume(uuid, text)",
    "taskq.cancel(uuid, text)",
    "taskq.retry(uuid, text)",
    "taskq.set_concurrency(text, integer, text)",
    "taskq.set_key_concurrency(text, integer, text)",
    "taskq.set_rate_limit(text, numeric, interval, integer, text)",
    "taskq.pause_queue(text, text)",
    "taskq.resume_queue(text, text)",
    "taskq.set_retention(text, interval, interval, interval, text)",
    # the default of set_retention's retentions, evaluated in the caller's call
    "taskq._retention_unchanged()",
    "taskq.prune(integer, text)",
    "taskq.schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text)",
    "taskq.unschedule(text, text)",
    "taskq.set_default_timeout(text, interval, text)",
}
# the functions the other functions call, which no application needs: the owner's only
OWNER_ONLY_PUBLIC_NAMES = {"taskq.uuid_v7(timestamptz)", "taskq.backoff(integer)"}
MATRIX = {
    "taskq_producer": TIME_TO_EXECUTE | PRODUCER,
    "taskq_worker": TIME_TO_EXECUTE | WORKER,
    "taskq_reader": TIME_TO_EXECUTE | READER,
    "taskq_admin": TIME_TO_EXECUTE | PRODUCER | WORKER | READER | ADMIN,
}
VIEWS = {
    "taskq.queue_stats",
    "taskq.task_info",
    "taskq.unhandled_tasks",
    "taskq.audit",
    "taskq.queue_retention",
    "taskq.table_health",
    "taskq.cleanup_holders",
    "taskq.schedule_info",
    "taskq.worker_info",
}
VIEW_READERS = {"taskq_reader", "taskq_admin"}
TABLES = (
    "taskq.tasks",
    "taskq.queues",
    "taskq.workers",
    "taskq.slots",
    "taskq.audit_log",
    "taskq.schedules",
)
TASKQ_ROLES = ("taskq_owner", *ROLES)
ROOT = Path(__file__).resolve().parents[2]
# a routine's NULL argument for each polymorphic type its signature may hold
CONCRETE = {"anyarray": "integer[]", "anyelement": "integer", "anycompatiblearray": "integer[]"}


def login_url(url: str, role: str) -> str:
    return make_conninfo(url, user=role)


def make_login(conn: Conn, name: str, *groups: str) -> None:
    """A LOGIN role that is a member of ``groups`` (made again when it exists)."""
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    statement = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name))
    if groups:
        statement += sql.SQL(" IN ROLE {}").format(sql.SQL(", ").join(map(sql.Identifier, groups)))
    conn.execute(statement)


@pytest.fixture(scope="session")
def logins(pg_server: PgServer, template_db: str) -> dict[str, str]:
    """A LOGIN role per taskq role (``taskq_producer`` -> ``login_producer``), and
    ``login_none`` with none: the role name to connect as, by taskq role."""
    names = {role: f"login_{role.removeprefix('taskq_')}" for role in ROLES}
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        for role, name in names.items():
            make_login(conn, name, role)
        make_login(conn, "login_none")
    return {**names, "PUBLIC": "login_none"}


def canonical(conn: Conn, signatures: set[str]) -> set[str]:
    rows = conn.execute(
        "SELECT s::regprocedure::text FROM unnest(%s::text[]) AS s", (sorted(signatures),)
    ).fetchall()
    return {row[0] for row in rows}


def routines(conn: Conn) -> list[tuple[str, str]]:
    """(signature, a call with NULL arguments) for every routine of the schema."""
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text, p.prokind = 'p',
               (SELECT string_agg('NULL::' || t.oid::regtype::text, ', ' ORDER BY a.n)
                FROM unnest(p.proargtypes) WITH ORDINALITY AS a (type, n)
                JOIN pg_type t ON t.oid = a.type)
        FROM pg_proc p WHERE p.pronamespace = 'taskq'::regnamespace ORDER BY 1
        """
    ).fetchall()
    calls = []
    for signature, procedure, arguments in rows:
        name = signature.split("(", 1)[0]
        for polymorphic, concrete in CONCRETE.items():
            arguments = (arguments or "").replace(f"::{polymorphic}", f"::{concrete}")
        calls.append((signature, f"{'CALL' if procedure else 'SELECT'} {name}({arguments})"))
    return calls


def test_the_matrix_is_what_each_role_may_execute(conn: Conn) -> None:
    granted = conn.execute(
        "SELECT r.rolname, p.oid::regprocedure::text FROM pg_proc p CROSS JOIN pg_roles r"
        " WHERE p.pronamespace = 'taskq'::regnamespace AND r.rolname = ANY (%s)"
        " AND has_function_privilege(r.oid, p.oid, 'EXECUTE')",
        (list(ROLES),),
    ).fetchall()
    for role in ROLES:
        assert {f for r, f in granted if r == role} == canonical(conn, MATRIX[role]), role


def test_every_public_function_has_a_role(conn: Conn) -> None:
    public = {
        row[0]
        for row in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " WHERE p.pronamespace = 'taskq'::regnamespace AND p.proname NOT LIKE '\\_%'"
        ).fetchall()
    }
    granted = {f for f in MATRIX["taskq_admin"] if not f.startswith("taskq._")}
    assert public - canonical(conn, OWNER_ONLY_PUBLIC_NAMES) == canonical(conn, granted)


def test_each_login_role_calls_what_its_role_allows_and_gets_42501_for_the_rest(
    database_url: str, logins: dict[str, str]
) -> None:
    """Every routine called with NULL arguments by each login role, each in a savepoint:
    42501 exactly where the matrix says no; elsewhere the function ran (whatever it said about
    its NULLs), the internal calls of an invoker function (time_to_execute) included."""
    with psycopg.connect(database_url) as admin:
        calls = routines(admin)
        allowed = {role: canonical(admin, MATRIX.get(role, set())) for role in logins}
    for role, login in logins.items():
        with psycopg.connect(login_url(database_url, login)) as conn:
            conn.execute("SET statement_timeout = '10s'")
            said = {}
            for signature, call in calls:
                try:
                    with conn.transaction(force_rollback=True):
                        conn.execute(call)
                except psycopg.Error as error:
                    said[signature] = error.sqlstate or ""
            denied = {s for s, sqlstate in said.items() if sqlstate == "42501"}
            assert denied == {s for s, _ in calls} - allowed[role], role
            # and no other class-42 error (no such function, a syntax error): the call was made
            assert {s: c for s, c in said.items() if c.startswith("42") and c != "42501"} == {}


def test_public_has_no_privilege_on_the_schema_or_its_objects(conn: Conn) -> None:
    assert one(conn, "SELECT has_schema_privilege('public', 'taskq', 'USAGE')") is False
    assert one(conn, "SELECT has_schema_privilege('public', 'taskq', 'CREATE')") is False
    granted_to_public = conn.execute(
        """
        SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.pronamespace = 'taskq'::regnamespace AND a.grantee = 0
        UNION ALL
        SELECT c.oid::regclass::text FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.relnamespace = 'taskq'::regnamespace AND a.grantee = 0
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'taskq'::regnamespace AND p.proacl IS NULL
        """
    ).fetchall()
    assert granted_to_public == [], "a NULL ACL is the default: EXECUTE to PUBLIC"


def test_functions_taskq_owner_makes_later_are_not_public(conn: Conn) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL ROLE taskq_owner")
        conn.execute("CREATE FUNCTION taskq.later() RETURNS integer LANGUAGE sql AS 'SELECT 1'")
        assert (
            one(conn, "SELECT has_function_privilege('public', 'taskq.later()', 'EXECUTE')")
            is False
        )


def test_no_application_role_reaches_a_table(database_url: str, logins: dict[str, str]) -> None:
    for role, login in logins.items():
        with psycopg.connect(login_url(database_url, login), autocommit=True) as conn:
            for table in TABLES:
                for statement in (
                    f"SELECT 1 FROM {table}",
                    f"DELETE FROM {table}",
                    f"TRUNCATE {table}",
                ):
                    with raises_sqlstate("42501"):
                        conn.execute(statement)
            for view in VIEWS:
                if role in VIEW_READERS:
                    conn.execute(f"SELECT * FROM {view}")
                else:
                    with raises_sqlstate("42501"):
                        conn.execute(f"SELECT * FROM {view}")
            # task_info is a view a plain UPDATE could write through: only SELECT is granted
            with raises_sqlstate("42501"):
                conn.execute("UPDATE taskq.task_info SET status = 'CANCELLED'")


def test_the_owner_owns_everything_and_may_not_log_in(conn: Conn) -> None:
    owner = conn.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
        " FROM pg_roles WHERE rolname = 'taskq_owner'"
    ).fetchone()
    assert owner == (False, False, False, False, False, False)
    others = conn.execute(
        """
        SELECT 'schema' FROM pg_namespace
        WHERE nspname = 'taskq' AND nspowner <> 'taskq_owner'::regrole
        UNION ALL
        SELECT c.oid::regclass::text FROM pg_class c
        WHERE c.relnamespace = 'taskq'::regnamespace AND c.relowner <> 'taskq_owner'::regrole
        UNION ALL
        SELECT t.oid::regtype::text FROM pg_type t
        WHERE t.typnamespace = 'taskq'::regnamespace AND t.typowner <> 'taskq_owner'::regrole
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'taskq'::regnamespace AND p.proowner <> 'taskq_owner'::regrole
        """
    ).fetchall()
    assert others == []
    roles = conn.execute(
        "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY (%s) ORDER BY rolname",
        (list(TASKQ_ROLES),),
    ).fetchall()
    assert roles == [(name, False) for name in sorted(TASKQ_ROLES)]
    admin_of = conn.execute(
        "SELECT array_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r"
        " WHERE r.rolname = ANY (%s) AND pg_has_role('taskq_admin', r.oid, 'USAGE')",
        (list(ROLES),),
    ).fetchone()
    assert admin_of == (["taskq_admin", "taskq_producer", "taskq_reader", "taskq_worker"],)


def test_every_security_definer_function_pins_search_path(conn: Conn) -> None:
    definers = conn.execute(
        "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p"
        " WHERE p.pronamespace = 'taskq'::regnamespace AND p.prosecdef"
    ).fetchall()
    callable_by_apps = {
        f for f in PRODUCER | WORKER | READER | ADMIN if not f.startswith("taskq._")
    }
    assert len(definers) >= len(callable_by_apps)
    loose = [s for s, config in definers if "search_path=taskq, pg_temp" not in (config or [])]
    assert loose == []


def work_through_the_roles(
    url: str, producer: str, worker: str, reader: str, queue: str = "default"
) -> None:
    """Enqueue into ``queue`` (unused before) as the producer, claim and complete as the worker,
    read as the reader: each call runs as taskq_owner (the tables it writes are granted to none
    of them)."""
    with psycopg.connect(login_url(url, producer), autocommit=True) as conn:
        task_id = one(conn, "SELECT taskq.enqueue('job', '{\"n\": 1}', queue => %s)", (queue,))
        assert one(conn, "SELECT status FROM taskq.get_task(%s)", (task_id,)) == "QUEUED"
    with psycopg.connect(login_url(url, worker), autocommit=True) as conn:
        conn.execute("LISTEN taskq")
        worker_id = one(conn, "SELECT taskq.register_worker('w')")
        claimed = conn.execute(
            "SELECT id, lease_token FROM taskq.claim(%s, ARRAY[%s], batch_size => 1)",
            (worker_id, queue),
        ).fetchall()
        assert [row[0] for row in claimed] == [task_id]
        done = conn.execute(
            "SELECT t.status, taskq.time_to_execute(t) >= 0"
            " FROM taskq.complete(%s, %s, '{\"ok\": true}') t",
            claimed[0],
        ).fetchone()
        assert done == ("COMPLETED", True)
        assert one(conn, "SELECT taskq.unregister_worker(%s)", (worker_id,)) == 0
    with psycopg.connect(login_url(url, producer), autocommit=True) as conn:
        # what the clients ask: the task and its time_to_execute, which counts with _elapsed
        seen = conn.execute(
            "SELECT t.status, taskq.time_to_execute(t) >= 0 FROM taskq.get_task(%s) t", (task_id,)
        ).fetchone()
        assert seen == ("COMPLETED", True)
    with psycopg.connect(login_url(url, reader), autocommit=True) as conn:
        row = conn.execute(
            "SELECT status, result FROM taskq.task_info WHERE id = %s", (task_id,)
        ).fetchone()
        assert row == ("COMPLETED", {"ok": True})
        stats = "SELECT completed FROM taskq.queue_stats WHERE queue = %s"
        assert one(conn, stats, (queue,)) == 1


def test_one_real_call_per_role(database_url: str, logins: dict[str, str]) -> None:
    work_through_the_roles(
        database_url, logins["taskq_producer"], logins["taskq_worker"], logins["taskq_reader"]
    )
    with psycopg.connect(login_url(database_url, logins["taskq_admin"]), autocommit=True) as conn:
        # the admin's own calls, and the others' through its memberships
        task_id = one(conn, "SELECT taskq.enqueue('job', queue => 'q')")
        assert one(conn, "SELECT status FROM taskq.cancel(%s)", (task_id,)) == "CANCELLED"
        assert one(conn, "SELECT paused FROM taskq.pause_queue('q')") is True
        assert one(conn, "SELECT cancelled FROM taskq.queue_stats WHERE queue = 'q'") == 1
        assert one(conn, "SELECT current_user") == logins["taskq_admin"]
        # a NOTIFY of a SECURITY DEFINER function reaches a listener whoever made it
        conn.execute("LISTEN taskq")
        conn.execute("SELECT taskq.resume_queue('q')")
        assert [n.payload for n in conn.notifies(timeout=5, stop_after=1)] == ["q"]


# --- a server of our own: roles made and dropped -----------------------------------------------


@pytest.fixture(scope="module")
def bare_server(pg_server: PgServer) -> Iterator[LocalServer]:
    """A server of this module's own, on the binaries of the test server (PostgreSQL 15 with
    TASKQ_TEST_PG=system), where no taskq role exists before a test."""
    bin_dir = pg_server.local.bin_dir if pg_server.local is not None else embedded_bin_dir()
    workdir = Path(tempfile.mkdtemp(prefix="taskq-test-roles-"))
    server = LocalServer(bin_dir, workdir / "data")
    server.init()
    server.start(FAST_SETTINGS)
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def bare(bare_server: LocalServer) -> Iterator[Conn]:
    """A superuser's connection to the bare server; databases and roles made in the test are
    dropped after it, the taskq roles with them."""
    with psycopg.connect(bare_server.url(), autocommit=True) as conn:
        assert taskq_roles(conn) == []
        yield conn
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'app%'"
        ).fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        for (name,) in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname ~ '^(taskq|app|my)_'"
            " ORDER BY rolname !~ '^taskq_', rolname = 'taskq_owner'"
        ).fetchall():
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def taskq_roles(conn: Conn) -> list[str]:
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY (%s) ORDER BY rolname",
        (list(TASKQ_ROLES),),
    ).fetchall()
    return [row[0] for row in rows]


def database_of(conn: Conn, server: LocalServer, name: str, owner: str) -> str:
    conn.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
    )
    return login_url(server.url(name), owner)


def app_logins(conn: Conn) -> None:
    """The applications' LOGIN roles, made by ``conn``'s role."""
    make_login(conn, "app_producer", "taskq_producer")
    make_login(conn, "app_worker", "taskq_worker")
    make_login(conn, "app_reader", "taskq_reader")


def readme_grants() -> str:
    """The README's grant recipe (the sql block of "### Privileges"), with a password."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sql\n(.*?)```", text[text.index("### Privileges") :], re.DOTALL)
    assert block is not None
    return block.group(1).replace("'…'", "'secret'")


def server_version(conn: Conn) -> int:
    return int(one(conn, "SHOW server_version_num"))


def test_deploy_as_a_non_superuser_with_createrole(bare_server: LocalServer, bare: Conn) -> None:
    """The managed-PostgreSQL case: no superuser, a role with CREATEROLE that owns its database
    makes the roles, the application logins, and runs the queue through them."""
    bare.execute("CREATE ROLE app_deployer LOGIN CREATEROLE")
    url = database_of(bare, bare_server, "app_one", "app_deployer")
    migrate.deploy(url)
    assert taskq_roles(bare) == sorted(TASKQ_ROLES)
    with psycopg.connect(url, autocommit=True) as conn:
        assert one(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        assert one(
            conn, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'taskq'"
        ) == ("taskq_owner")
        # the README's grant recipe, run by the deployer
        conn.execute(readme_grants())
    work_through_the_roles(url, "my_app", "my_worker", "my_dashboard")
    work_through_the_roles(url, "my_api", "my_worker", "my_api", queue="api")
    # a second database of the same deployer finds the roles made
    second = database_of(bare, bare_server, "app_two", "app_deployer")
    assert "+ roles" in migrate.deploy(second)
    work_through_the_roles(second, "my_app", "my_worker", "my_dashboard")


def test_a_role_that_may_not_create_roles_is_told_in_one_line_what_to_run(
    bare_server: LocalServer, bare: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    bare.execute("CREATE ROLE app_plain LOGIN")
    url = database_of(bare, bare_server, "app_plain", "app_plain")
    assert main(["migrate", "deploy", "--database-url", url]) == 1
    said = capsys.readouterr().err
    assert said.count("\n") == 1, said
    first, _, statements = said.strip().partition("have a role that may run: ")
    assert first.startswith("taskq: sqitch deploy failed: role app_plain may not create the roles")
    assert "CREATE ROLE taskq_owner NOLOGIN;" in statements
    assert statements.endswith("GRANT taskq_owner TO app_plain;")
    assert taskq_roles(bare) == []
    # what it says to run, run by a superuser, lets the same role deploy
    bare.execute(statements)
    migrate.deploy(url)
    with psycopg.connect(url, autocommit=True) as conn:
        assert one(conn, "SELECT count(*) FROM pg_proc WHERE proowner = 'taskq_owner'::regrole") > 0


def test_another_createrole_deployer_needs_the_owner_granted_from_16(
    bare_server: LocalServer, bare: Conn
) -> None:
    """Roles made by someone else: PostgreSQL 15 lets any CREATEROLE role grant itself
    taskq_owner; from 16 on only a role with ADMIN on it may, and the deploy says which GRANT."""
    bare.execute("CREATE ROLE app_first LOGIN CREATEROLE")
    bare.execute("CREATE ROLE app_second LOGIN CREATEROLE")
    migrate.deploy(database_of(bare, bare_server, "app_first", "app_first"))
    second = database_of(bare, bare_server, "app_second", "app_second")
    if server_version(bare) < 160000:
        migrate.deploy(second)
        return
    with pytest.raises(migrate.MigrationError) as refused:
        migrate.deploy(second)
    assert str(refused.value) == (
        "sqitch deploy failed: role app_second may not grant the roles taskq needs; "
        "have a role that may run: GRANT taskq_owner TO app_second;"
    )
    bare.execute("GRANT taskq_owner TO app_second")
    migrate.deploy(second)


def test_the_compose_logins_work_with_a_deploy_that_finds_the_roles_made(
    bare_server: LocalServer, bare: Conn
) -> None:
    """compose/logins.sql, as the postgres service runs it, then the migrate service's deploy
    (as the superuser), then the api's and the worker's logins at work."""
    bare.execute((ROOT / "compose" / "logins.sql").read_text())
    url = database_of(bare, bare_server, "app_compose", "postgres")
    migrate.deploy(url)
    work_through_the_roles(url, "taskq_api_login", "taskq_worker_login", "taskq_api_login")
    with psycopg.connect(login_url(url, "taskq_api_login"), autocommit=True) as conn:
        assert one(conn, "SELECT paused FROM taskq.pause_queue('default')") is True
    worker = psycopg.connect(login_url(url, "taskq_worker_login"), autocommit=True)
    with worker, raises_sqlstate("42501"):
        worker.execute("SELECT taskq.pause_queue('default')")


def test_a_taskq_owner_that_can_log_in_is_refused(bare_server: LocalServer, bare: Conn) -> None:
    bare.execute("CREATE ROLE taskq_owner LOGIN")
    with pytest.raises(migrate.MigrationError, match="ALTER ROLE taskq_owner NOLOGIN"):
        migrate.deploy(database_of(bare, bare_server, "app_login_owner", "postgres"))


def test_revert_keeps_the_roles_another_database_uses(bare_server: LocalServer, bare: Conn) -> None:
    bare.execute("CREATE ROLE app_deployer LOGIN CREATEROLE")
    one_url = database_of(bare, bare_server, "app_one", "app_deployer")
    two_url = database_of(bare, bare_server, "app_two", "app_deployer")
    migrate.deploy(one_url)
    migrate.deploy(two_url)
    with psycopg.connect(one_url, autocommit=True) as conn:
        app_logins(conn)

    said = migrate.revert(one_url)
    assert "the roles taskq_* stay: app_two uses them" in said
    assert taskq_roles(bare) == sorted(TASKQ_ROLES)
    with psycopg.connect(one_url) as conn:
        assert one(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'taskq'") == 0
    work_through_the_roles(two_url, "app_producer", "app_worker", "app_reader")

    # the applications' logins still hold the roles: they stay
    said = migrate.revert(two_url)
    assert "the roles taskq_* stay: app_producer, app_reader, app_worker are members" in said
    assert taskq_roles(bare) == sorted(TASKQ_ROLES)
    for login in ("app_producer", "app_worker", "app_reader"):
        bare.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))

    # made again from the roles found, then reverted with nothing else using them: dropped
    migrate.deploy(two_url)
    migrate.revert(two_url)
    assert taskq_roles(bare) == []
    migrate.deploy(one_url)
    assert taskq_roles(bare) == sorted(TASKQ_ROLES)
    with psycopg.connect(one_url, autocommit=True) as conn:
        app_logins(conn)
    work_through_the_roles(one_url, "app_producer", "app_worker", "app_reader")
