-- Deploy taskq:tasks_unique_key to pg
-- requires: task_options
--
-- tasks_unique_key (unique_key) WHERE unique_key IS NOT NULL: what makes a unique key exact. The
-- enqueues insert with ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING, so two
-- concurrent enqueues of one key cannot both add a task. Only the tasks with a key have an
-- entry; a task keeps it after it finished until a newer task takes the key over.
--
-- Built CONCURRENTLY, so no transaction block, as tasks_finished is: a plain CREATE INDEX would
-- hold a SHARE lock on taskq.tasks while it reads every row of the history. A build that failed
-- half-way leaves an invalid index, which is dropped first. (An index belongs to its table's
-- owner, taskq_owner, whoever builds it.)

SELECT 'DROP INDEX CONCURRENTLY taskq.tasks_unique_key'
FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_unique_key') AND NOT i.indisvalid
\gexec

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS tasks_unique_key ON taskq.tasks (unique_key)
    WHERE unique_key IS NOT NULL;
