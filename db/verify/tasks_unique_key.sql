-- Verify taskq:tasks_unique_key on pg: the index exists, is valid and unique
SELECT 1 / count(*) FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_unique_key') AND i.indisvalid AND i.indisunique;
