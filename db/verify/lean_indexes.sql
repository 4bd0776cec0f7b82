-- Verify taskq:lean_indexes on pg: tasks_rare_status exists and is valid, the two it replaces are gone
SELECT 1 / count(*) FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_rare_status') AND i.indisvalid;
SELECT 1 / (to_regclass('taskq.tasks_status_id') IS NULL AND to_regclass('taskq.tasks_running_by_worker') IS NULL)::integer;
