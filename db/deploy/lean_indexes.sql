-- Deploy taskq:lean_indexes to pg
-- requires: tasks_finished
-- requires: held_tasks
--
-- Fewer index entries written per task. A claim (QUEUED -> RUNNING) and an outcome (-> COMPLETED)
-- change status, which partial indexes read, so neither is a HOT update: the new row version
-- gets an entry in every index whose predicate it meets. Two indexes took one on every claim and
-- one (tasks_status_id) on every enqueue and completion too, and served little:
--   tasks_status_id (status, id): list_tasks by status, newest first. Its plan, cached after a
--       few calls of a session, tests `status IS NULL OR t.status = $1` and reads the primary key
--       newest first either way. Replaced by tasks_rare_status (status, id) WHERE status is
--       PAUSED, FAILED or CANCELLED: the statuses a history holds few of, where reading the
--       primary key newest first would pass many rows; no claim, enqueue or completion writes it.
--   tasks_running_by_worker (worker_id) WHERE RUNNING: a worker's RUNNING tasks (heartbeat,
--       held_tasks, unregister_worker, maintain's dead workers, worker_info). tasks_leases
--       (lease_expires_at) WHERE RUNNING holds the same rows; those calls now read it: the
--       RUNNING tasks, at most the workers' concurrency together.
-- Measured (pgbench -M prepared, 1 client, claim + complete_many over arrays, batch 50, 75,000
-- tasks, 3 rounds interleaved on one server): 1.20x, 1.06x and 1.23x the drain with both.
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
DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_running_by_worker;
