-- Verify taskq:tasks_finished on pg: the index exists and is valid
SELECT 1 / count(*) FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_finished') AND i.indisvalid;
