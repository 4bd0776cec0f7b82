-- Verify taskq:health on pg
SELECT table_name, total_bytes, table_bytes, index_bytes, live_tuples, dead_tuples, dead_fraction,
       n_mod_since_analyze, n_ins_since_vacuum, last_vacuum, last_autovacuum, last_analyze,
       last_autoanalyze, vacuum_count, autovacuum_count, analyze_count, autoanalyze_count
FROM taskq.table_health WHERE false;
SELECT holder, pid, name, database, role, state, xmin, xmin_age, since, age, query_start,
       holds_back_taskq, is_horizon
FROM taskq.cleanup_holders WHERE false;
SELECT pg_catalog.has_function_privilege('taskq._cleanup_holders()', 'execute');
