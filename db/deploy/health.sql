-- Deploy taskq:health to pg
-- requires: schema
--
-- What an admin needs to see bloat coming, read from PostgreSQL's catalogs and statistics.
--   taskq.table_health: one row per table of schema taskq (listed from pg_class, so a table
--       added later shows too): total_bytes (heap, TOAST, indexes), table_bytes (heap and
--       TOAST), index_bytes; live_tuples, dead_tuples (the statistics' estimates) and
--       dead_fraction (dead / (live + dead), 0 for an empty table); n_mod_since_analyze,
--       n_ins_since_vacuum; the last manual and automatic VACUUM and ANALYZE and their counts.
--   taskq._cleanup_holders() returns what holds back the cleanup (the xmin horizon) of the
--       cluster, one row per holder, and taskq.cleanup_holders shows it, oldest first:
--         holder 'session': a backend whose transaction holds an xid or a snapshot
--             (pg_stat_activity.backend_xid, backend_xmin): a REPEATABLE READ transaction, an
--             idle-in-transaction session that wrote, a long query, an open cursor;
--         'standby feedback': a WAL sender whose standby sends hot_standby_feedback without a
--             replication slot (pg_stat_replication.backend_xmin);
--         'prepared transaction': pg_prepared_xacts, held until COMMIT/ROLLBACK PREPARED;
--         'replication slot': a slot's xmin (a physical slot with hot_standby_feedback);
--         'replication slot catalog': a slot's catalog_xmin, which holds back the system
--             catalogs only.
--       xmin is the oldest xid the holder keeps visible, xmin_age its age in xids (age()),
--       since when the holder began (a session's xact_start, a PREPARE's time; NULL for a
--       slot or a standby, of which PostgreSQL keeps no time) and age = now() - since.
--       holds_back_taskq: whether VACUUM of this database's taskq tables must keep the rows
--       it could see, by PostgreSQL's own rule (ComputeXidHorizons): sessions and prepared
--       transactions of this database, a backend of no database (a standby's WAL sender),
--       a slot's xmin; not a catalog_xmin, not another database's sessions.
--       is_horizon: the oldest of those, the one that sets the horizon of the taskq tables.
--       Left out: the session reading it, and a backend running a VACUUM (other VACUUMs
--       ignore it). No query text: the holder is found by pid, role and application_name.
--       SECURITY DEFINER: pg_stat_activity shows the state and the times of other roles'
--       sessions only to a member of pg_read_all_stats, which the function's owner must be
--       for state, since, age and query_start to show; xids, pids, roles and application
--       names show to everyone.
BEGIN;

CREATE VIEW taskq.table_health AS
SELECT c.relname::text AS table_name,
       pg_catalog.pg_total_relation_size(c.oid) AS total_bytes,
       pg_catalog.pg_table_size(c.oid) AS table_bytes,
       pg_catalog.pg_indexes_size(c.oid) AS index_bytes,
       s.n_live_tup AS live_tuples,
       s.n_dead_tup AS dead_tuples,
       coalesce(s.n_dead_tup::double precision / nullif(s.n_live_tup + s.n_dead_tup, 0), 0) AS dead_fraction,
       s.n_mod_since_analyze,
       s.n_ins_since_vacuum,
       s.last_vacuum,
       s.last_autovacuum,
       s.last_analyze,
       s.last_autoanalyze,
       s.vacuum_count,
       s.autovacuum_count,
       s.analyze_count,
       s.autoanalyze_count
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
WHERE n.nspname = 'taskq' AND c.relkind = 'r'
ORDER BY c.relname;

COMMENT ON VIEW taskq.table_health IS
    'One row per table of schema taskq: sizes in bytes (total = table + TOAST + indexes), live and dead tuples (estimates of the statistics), dead_fraction, changes since the last ANALYZE and inserts since the last VACUUM, the last (auto)vacuum and (auto)analyze. For taskq_reader.';

CREATE FUNCTION taskq._cleanup_holders()
RETURNS TABLE (
    holder text,
    pid integer,
    name text,
    database name,
    role name,
    state text,
    xmin xid,
    xmin_age integer,
    since timestamptz,
    age interval,
    query_start timestamptz,
    holds_back_taskq boolean,
    is_horizon boolean
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    WITH held AS (
        SELECT CASE WHEN a.datid IS NULL AND a.pid IN (SELECT w.pid FROM pg_catalog.pg_stat_get_wal_senders() w)
                    THEN 'standby feedback' ELSE 'session' END AS holder,
               -- the state and times of another database's sessions stay as private as
               -- pg_stat_activity keeps them from a reader without pg_read_all_stats
               a.pid, a.application_name AS name, a.datname AS database, a.usename AS role,
               CASE WHEN a.datid IS NULL OR a.datname = pg_catalog.current_database() THEN a.state END AS state,
               -- the older of the two; xids have no order but their age
               CASE WHEN a.backend_xid IS NULL THEN a.backend_xmin
                    WHEN a.backend_xmin IS NULL THEN a.backend_xid
                    WHEN pg_catalog.age(a.backend_xid) >= pg_catalog.age(a.backend_xmin) THEN a.backend_xid
                    ELSE a.backend_xmin END AS xmin,
               CASE WHEN a.datid IS NULL OR a.datname = pg_catalog.current_database() THEN a.xact_start END AS since,
               CASE WHEN a.datid IS NULL OR a.datname = pg_catalog.current_database() THEN a.query_start END AS query_start,
               -- only the backends of this database hold back its tables, and those of none
               (a.datid IS NULL OR a.datname = pg_catalog.current_database()) AS holds_back_taskq
        FROM pg_catalog.pg_stat_activity a
        WHERE (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL)
          AND a.pid <> pg_catalog.pg_backend_pid()
          AND a.pid NOT IN (SELECT v.pid FROM pg_catalog.pg_stat_progress_vacuum v)
        UNION ALL
        SELECT 'prepared transaction', NULL, p.gid, p.database, p.owner, 'prepared', p.transaction,
               p.prepared, NULL, p.database = pg_catalog.current_database()
        FROM pg_catalog.pg_prepared_xacts p
        UNION ALL
        SELECT 'replication slot', s.active_pid, s.slot_name, s.database, NULL,
               CASE WHEN s.active THEN 'active' ELSE 'inactive' END, s.xmin, NULL, NULL, true
        FROM pg_catalog.pg_replication_slots s
        WHERE s.xmin IS NOT NULL
        UNION ALL
        SELECT 'replication slot catalog', s.active_pid, s.slot_name, s.database, NULL,
               CASE WHEN s.active THEN 'active' ELSE 'inactive' END, s.catalog_xmin, NULL, NULL, false
        FROM pg_catalog.pg_replication_slots s
        WHERE s.catalog_xmin IS NOT NULL
    ), aged AS (
        SELECT h.*, pg_catalog.age(h.xmin) AS xmin_age FROM held h
    )
    SELECT g.holder, g.pid, g.name, g.database, g.role, g.state, g.xmin, g.xmin_age, g.since,
           pg_catalog.now() - g.since, g.query_start, g.holds_back_taskq,
           g.holds_back_taskq AND g.xmin_age = max(g.xmin_age) FILTER (WHERE g.holds_back_taskq) OVER ()
    FROM aged g
    ORDER BY g.holds_back_taskq DESC, g.xmin_age DESC, g.pid
$$;

COMMENT ON FUNCTION taskq._cleanup_holders() IS
    'Internal, read through taskq.cleanup_holders (for taskq_reader): what holds back the cleanup of dead rows in the cluster (sessions, standby feedback, prepared transactions, replication slots), oldest first, whether it holds back the taskq tables of this database, and which one sets their horizon. Its owner needs pg_read_all_stats for the state and times of other roles'' sessions; those of another database''s sessions are NULL.';

CREATE VIEW taskq.cleanup_holders AS
SELECT h.holder, h.pid, h.name, h.database, h.role, h.state, h.xmin, h.xmin_age, h.since, h.age,
       h.query_start, h.holds_back_taskq, h.is_horizon
FROM taskq._cleanup_holders() h;

COMMENT ON VIEW taskq.cleanup_holders IS
    'What holds back VACUUM: one row per session, standby, prepared transaction or replication slot keeping an old xid visible, oldest first. holds_back_taskq: it keeps dead rows of this database''s taskq tables; is_horizon: the oldest of those. age = now() - since (a session''s transaction start, a PREPARE''s time). For taskq_reader (with EXECUTE on taskq._cleanup_holders()).';

COMMIT;
