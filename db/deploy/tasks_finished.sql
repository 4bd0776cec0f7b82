-- Deploy taskq:tasks_finished to pg
-- requires: retention
--
-- tasks_finished (queue, status, finished_at) WHERE status >= 'COMPLETED': the index taskq.prune
-- reads, one range per queue and status. A claim never writes it (its rows are not finished);
-- each completion, failure for good or cancellation adds one entry.
--
-- Built CONCURRENTLY, so no transaction block: a plain CREATE INDEX would hold a SHARE lock on
-- taskq.tasks, and every enqueue, claim and outcome would wait while it indexes months of
-- history. A build that failed half-way leaves an invalid index, which is dropped first.
SELECT 'DROP INDEX CONCURRENTLY taskq.tasks_finished'
FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_finished') AND NOT i.indisvalid
\gexec

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_finished ON taskq.tasks (queue, status, finished_at)
    WHERE status >= 'COMPLETED';
