-- Revert taskq:lean_indexes from pg
-- no transaction block (see the deploy script): the two indexes are built again without
-- blocking writes, any invalid leftover of a failed build dropped first
SELECT 'DROP INDEX CONCURRENTLY ' || i.indexrelid::regclass::text
FROM pg_catalog.pg_index i
WHERE i.indexrelid IN (to_regclass('taskq.tasks_status_id'), to_regclass('taskq.tasks_running_by_worker'))
  AND NOT i.indisvalid
\gexec

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_status_id ON taskq.tasks (status, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_running_by_worker ON taskq.tasks (worker_id) WHERE status = 'RUNNING';
DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_rare_status;
