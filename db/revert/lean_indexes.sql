-- Revert taskq:lean_indexes from pg
-- no transaction block (see the deploy script): tasks_status_id is built again without blocking
-- writes, an invalid leftover of a failed build dropped first
SELECT 'DROP INDEX CONCURRENTLY taskq.tasks_status_id'
FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_status_id') AND NOT i.indisvalid
\gexec

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_status_id ON taskq.tasks (status, id);
DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_rare_status;
