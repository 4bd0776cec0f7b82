-- Deploy taskq:lean_indexes to pg
-- requires: tasks_finished
-- requires: held_tasks
--
-- One index entry fewer written per enqueue, claim and completion. A claim (QUEUED -> RUNNING)
-- and an outcome (-> COMPLETED) change status, which partial indexes read, so neither is a HOT
-- update: the new row version gets an entry in every index whose predicate it meets.
-- tasks_status_id (status, id) took one on every enqueue, claim and completion, for list_tasks
-- by status, newest first, whose plan (cached after a few calls of a session, testing
-- `status IS NULL OR t.status = $1`) reads the primary key newest first either way. It gives
-- way to tasks_rare_status (status, id) WHERE status is PAUSED, FAILED or CANCELLED: the
-- statuses a history holds few of, where a listing planned for its status (a session's first
-- calls, psql) would otherwise pass many rows; no enqueue, claim or completion writes it.
-- tasks_running_by_worker stays: heartbeat, held_tasks, unregister_worker and worker_info find
-- a worker's RUNNING tasks by it, among every worker's.
--
-- CONCURRENTLY, so no transaction block (as tasks_finished): no enqueue, claim or outcome waits
-- while the new index is built over the history. A build that failed half-way leaves an invalid
-- index, dropped first.
SELECT 'DROP INDEX CONCURRENTLY taskq.tasks_rare_status'
FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_rare_status') AND NOT i.indisvalid
\gexec

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_rare_status ON taskq.tasks (status, id)
    WHERE status IN ('PAUSED', 'FAILED', 'CANCELLED');
DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_status_id;
