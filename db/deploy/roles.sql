-- Deploy taskq:roles to pg
-- requires: tasks, queues, workers, enqueue, claim, claim_lean, outcomes, outcomes_many, control,
--           views, held_tasks, uuid_v7
--
-- Least privilege. Roles belong to the whole server, not to one database: each is made only when
-- it does not exist yet (another database on the server may hold the schema already), all NOLOGIN:
--   taskq_owner     owns the schema, its tables, types, sequences, views and functions; not a
--                   superuser, cannot log in: the SECURITY DEFINER functions run as it.
--   taskq_producer  puts tasks in and reads them back (get_task of any task: tasks carry no
--                   producer, so there is no "own" to tell apart; apps that must not see each
--                   other's tasks use a database each).
--   taskq_worker    registers, claims, heartbeats, reports outcomes, rescues, asks what is due.
--   taskq_reader    the views, get_task, list_tasks, list_tasks_page, get_queue_stats.
--   taskq_admin     member of the three above, and pauses, resumes, cancels, retries tasks and
--                   changes queues.
-- An application's LOGIN role is granted one or more of them (GRANT taskq_producer TO my_app).
-- EXECUTE is revoked from PUBLIC on every routine of the schema (and on those taskq_owner makes
-- later, by its default privileges), so is USAGE on the schema; the tables are granted to no
-- role but their owner. The internal functions (`_` first), taskq.uuid_v7 and taskq.backoff
-- are executed by taskq_owner only, except taskq._elapsed: the views and taskq.time_to_execute
-- call it, and PostgreSQL checks EXECUTE of what a view or a SECURITY INVOKER function calls
-- against the caller.
--   taskq._own(new_owner) (a procedure) makes new_owner the owner of the schema and all in it.
--
-- The deploying role needs CREATEROLE (or to be a superuser) when a role is missing, and to be a
-- member of taskq_owner to hand its objects over: a non-superuser is granted taskq_owner (on
-- PostgreSQL 16 and later, CREATEROLE gives ADMIN, not membership, of the roles one makes).
-- When it may not, the deploy fails with one line (42501) naming the statements that a role
-- which may must run first.
--
-- A later change that adds a function creates it as the owner (`SET LOCAL ROLE taskq_owner;`
-- after BEGIN: then no PUBLIC EXECUTE either), or ends with `CALL taskq._own('taskq_owner');`
-- and REVOKE EXECUTE ... FROM PUBLIC; and grants it to its roles in the lists below.
BEGIN;

DO $roles$
DECLARE
    deployer name := current_user;
    me pg_roles;
    role_name text;
    missing text[];
    grants text[] := '{}';
    statement text;
BEGIN
    SELECT r.* INTO me FROM pg_roles r WHERE r.rolname = deployer;
    SELECT coalesce(array_agg(w.name ORDER BY w.n), '{}') INTO missing
    FROM unnest(ARRAY['taskq_owner', 'taskq_producer', 'taskq_worker', 'taskq_reader', 'taskq_admin'])
         WITH ORDINALITY AS w (name, n)
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = w.name);
    IF cardinality(missing) > 0 AND NOT (me.rolsuper OR me.rolcreaterole) THEN
        RAISE EXCEPTION 'role % may not create the roles % (it has no CREATEROLE); have a role that may run: % GRANT taskq_producer, taskq_worker, taskq_reader TO taskq_admin;%',
            quote_ident(deployer), array_to_string(missing, ', '),
            (SELECT string_agg(format('CREATE ROLE %I NOLOGIN;', m.name), ' ') FROM unnest(missing) AS m (name)),
            CASE WHEN me.rolsuper THEN '' ELSE format(' GRANT taskq_owner TO %I;', deployer) END
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    FOREACH role_name IN ARRAY missing LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
                           role_name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- made meanwhile by a deploy into another database
        END;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'taskq_owner' AND (r.rolcanlogin OR r.rolsuper)) THEN
        RAISE EXCEPTION 'role taskq_owner can log in or is a superuser, and the functions run as it; have a role that may run: ALTER ROLE taskq_owner NOLOGIN NOSUPERUSER;'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    FOREACH role_name IN ARRAY ARRAY['taskq_producer', 'taskq_worker', 'taskq_reader'] LOOP
        IF NOT pg_has_role('taskq_admin', role_name, 'USAGE') THEN
            grants := grants || format('GRANT %I TO taskq_admin;', role_name);
        END IF;
    END LOOP;
    -- ALTER ... OWNER TO taskq_owner takes its privileges (USAGE) and, from PostgreSQL 16 on,
    -- the right to SET ROLE to it, which CREATEROLE alone does not give
    IF NOT me.rolsuper THEN
        IF NOT pg_has_role(deployer, 'taskq_owner', 'USAGE') THEN
            grants := grants || format('GRANT taskq_owner TO %I;', deployer);
        ELSIF current_setting('server_version_num')::integer >= 160000 THEN
            IF NOT pg_has_role(deployer, 'taskq_owner', 'SET') THEN
                grants := grants || format('GRANT taskq_owner TO %I;', deployer);
            END IF;
        END IF;
    END IF;
    BEGIN
        FOREACH statement IN ARRAY grants LOOP
            EXECUTE statement;
        END LOOP;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role % may not grant the roles taskq needs; have a role that may run: %',
            quote_ident(deployer), array_to_string(grants, ' ')
            USING ERRCODE = 'insufficient_privilege';
    END;
    -- taskq.cleanup_holders (SECURITY DEFINER) shows the state and times of other roles'
    -- sessions only to a member of pg_read_all_stats; without it, they are NULL
    IF NOT pg_has_role('taskq_owner', 'pg_read_all_stats', 'USAGE') THEN
        BEGIN
            GRANT pg_read_all_stats TO taskq_owner;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'role % may not grant pg_read_all_stats: taskq.cleanup_holders shows no state or times of other roles'' sessions until a role that may runs: GRANT pg_read_all_stats TO taskq_owner;',
                quote_ident(deployer);
        END;
    END IF;
END;
$roles$;

-- One owner for the schema and everything in it: the schema first (its owner may own what is
-- in it), the tables (their indexes, row types and owned sequences follow them), then what does
-- not follow a table.
CREATE PROCEDURE taskq._own(new_owner name)
LANGUAGE plpgsql
AS $$
DECLARE
    object record;
BEGIN
    EXECUTE format('ALTER SCHEMA taskq OWNER TO %I', _own.new_owner);
    FOR object IN
        SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
               c.oid::regclass::text AS name, c.relkind = 'S' AS later
        FROM pg_class c
        WHERE c.relnamespace = 'taskq'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        ORDER BY 3, c.oid
    LOOP
        -- a sequence owned by a column has changed with its table
        IF (SELECT c.relowner FROM pg_class c WHERE c.oid = object.name::regclass) <> _own.new_owner::regrole THEN
            EXECUTE format('ALTER %s %s OWNER TO %I', object.kind, object.name, _own.new_owner);
        END IF;
    END LOOP;
    FOR object IN
        SELECT t.oid::regtype::text AS name FROM pg_type t
        WHERE t.typnamespace = 'taskq'::regnamespace AND t.typowner <> _own.new_owner::regrole
          AND t.typtype <> 'm'  -- a multirange follows its range
          AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)
          AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
    LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO %I', object.name, _own.new_owner);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure::text AS name FROM pg_proc p
        WHERE p.pronamespace = 'taskq'::regnamespace AND p.proowner <> _own.new_owner::regrole
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', object.name, _own.new_owner);
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE taskq._own(name) IS
    'Internal: makes new_owner the owner of the schema taskq and of every table, view, sequence, type and routine in it. The deploy of taskq:roles calls it with taskq_owner, its revert with the reverting role; a later change that makes objects as another role than taskq_owner may call it too.';

CALL taskq._own('taskq_owner');

REVOKE ALL ON SCHEMA taskq FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA taskq FROM PUBLIC;
-- Not IN SCHEMA: a schema's default privileges add to the global ones, they cannot take away.
ALTER DEFAULT PRIVILEGES FOR ROLE taskq_owner REVOKE EXECUTE ON ROUTINES FROM PUBLIC;

GRANT USAGE ON SCHEMA taskq TO taskq_producer, taskq_worker, taskq_reader, taskq_admin;

-- Who may call what: one list per role (taskq_admin also has what the other three have).
-- A computation on the row it is given, which the clients add to every task they answer; it
-- and the views count with taskq._elapsed. (taskq.uuid_v7 and taskq.backoff, which the
-- functions call, stay the owner's: they call internal checks, and no application needs them.)
GRANT EXECUTE ON FUNCTION
    taskq.time_to_execute(taskq.tasks, timestamptz),
    taskq._elapsed(timestamptz, timestamptz)
TO taskq_producer, taskq_worker, taskq_reader;

GRANT EXECUTE ON FUNCTION
    taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer),
    taskq.enqueue_many(jsonb),
    taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[]),
    taskq.get_task(uuid)
TO taskq_producer;

GRANT EXECUTE ON FUNCTION
    taskq.register_worker(text, text[], text, integer, text[]),
    taskq.unregister_worker(uuid),
    taskq.heartbeat(uuid, interval, uuid[]),
    taskq.held_tasks(uuid),
    taskq.claim_next(uuid, text[], text[], interval, integer),
    taskq.claim(uuid, text[], text[], interval, integer),
    taskq.complete(uuid, uuid, jsonb),
    taskq.fail(uuid, uuid, text, interval, timestamptz),
    taskq.complete_many(jsonb),
    taskq.complete_many(uuid[], uuid[], jsonb[]),
    taskq.fail_many(jsonb),
    taskq.fail_many(uuid[], uuid[], text[], interval[]),
    taskq.rescue_expired(),
    taskq.next_due(text[]),
    taskq.maintain(integer)
TO taskq_worker;

GRANT EXECUTE ON FUNCTION
    taskq.get_task(uuid),
    taskq.list_tasks(taskq.status, text, text, uuid, integer),
    taskq.list_tasks_page(taskq.status, text, text, uuid, integer),
    taskq.get_queue_stats(text),
    taskq.list_audit(uuid, text, text, timestamptz, timestamptz, bigint, integer),
    -- the view taskq.cleanup_holders calls it, and a view's functions are checked against its reader
    taskq._cleanup_holders()
TO taskq_reader;
GRANT SELECT ON taskq.queue_stats, taskq.task_info, taskq.unhandled_tasks, taskq.audit,
    taskq.queue_retention, taskq.table_health, taskq.cleanup_holders
TO taskq_reader;

GRANT EXECUTE ON FUNCTION
    taskq.pause(uuid, text),
    taskq.resume(uuid, text),
    taskq.cancel(uuid, text),
    taskq.retry(uuid, text),
    taskq.set_concurrency(text, integer, text),
    taskq.pause_queue(text, text),
    taskq.resume_queue(text, text),
    taskq.set_retention(text, interval, interval, interval, text),
    -- the default of set_retention's retentions: a default is evaluated in the caller's call
    taskq._retention_unchanged(),
    taskq.prune(integer, text)
TO taskq_admin;

COMMIT;
