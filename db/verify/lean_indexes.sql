-- Verify taskq:lean_indexes on pg: tasks_rare_status exists, is valid and holds the rare
-- statuses only; tasks_status_id is gone
SELECT 1 / count(*) FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_rare_status') AND i.indisvalid
  AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) LIKE '%PAUSED%FAILED%CANCELLED%';
SELECT 1 / (to_regclass('taskq.tasks_status_id') IS NULL)::integer;
