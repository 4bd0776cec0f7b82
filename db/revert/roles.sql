-- Revert taskq:roles from pg
--
-- Takes from the roles what the deploy granted them, gives PUBLIC back what it had (USAGE on the
-- schema, EXECUTE on every routine) and the objects of the schema to the reverting role (the
-- role that deployed them). The five roles belong to the server: they are dropped together, and
-- only when nothing uses them any more, that is when no object of any database on the server
-- depends on one of them (pg_shdepend: an owner, a privilege, default privileges; another
-- database holding the schema has all three) and no role but the five and the reverting one is
-- a member of one (an application granted taskq_producer keeps its grant for a deploy again).
-- Else, or when the reverting role may not drop them, they stay, and a NOTICE says why.
BEGIN;

DO $grants$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['taskq_producer', 'taskq_worker', 'taskq_reader', 'taskq_admin'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role_name) THEN
            EXECUTE format('REVOKE ALL ON ALL ROUTINES IN SCHEMA taskq FROM %I', role_name);
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA taskq FROM %I', role_name);
            EXECUTE format('REVOKE ALL ON SCHEMA taskq FROM %I', role_name);
        END IF;
    END LOOP;
END;
$grants$;

GRANT USAGE ON SCHEMA taskq TO PUBLIC;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA taskq TO PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE taskq_owner GRANT EXECUTE ON ROUTINES TO PUBLIC;

CALL taskq._own(current_user);
DROP PROCEDURE taskq._own(name);

DO $drop$
DECLARE
    taskq_roles text[] := ARRAY['taskq_admin', 'taskq_producer', 'taskq_worker', 'taskq_reader', 'taskq_owner'];
    role_name text;
    used_in text;
    members text;
BEGIN
    SELECT string_agg(DISTINCT coalesce(d.datname::text, 'the server'), ', ' ORDER BY coalesce(d.datname::text, 'the server')) INTO used_in
    FROM pg_shdepend s
    JOIN pg_roles r ON r.oid = s.refobjid
    LEFT JOIN pg_database d ON d.oid = s.dbid
    WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = ANY (taskq_roles);
    SELECT string_agg(DISTINCT m.rolname::text, ', ' ORDER BY m.rolname::text) INTO members
    FROM pg_auth_members a
    JOIN pg_roles g ON g.oid = a.roleid
    JOIN pg_roles m ON m.oid = a.member
    WHERE g.rolname = ANY (taskq_roles) AND NOT m.rolname = ANY (taskq_roles)
      AND m.rolname <> current_user;
    IF used_in IS NOT NULL THEN
        RAISE NOTICE 'the roles taskq_* stay: % uses them', used_in;
        RETURN;
    END IF;
    IF members IS NOT NULL THEN
        RAISE NOTICE 'the roles taskq_* stay: % are members of them', members;
        RETURN;
    END IF;
    BEGIN
        FOREACH role_name IN ARRAY taskq_roles LOOP
            EXECUTE format('DROP ROLE IF EXISTS %I', role_name);
        END LOOP;
    EXCEPTION WHEN insufficient_privilege OR dependent_objects_still_exist THEN
        RAISE NOTICE 'the roles taskq_* stay: %', SQLERRM;
    END;
END;
$drop$;

COMMIT;
