-- Verify taskq:name_estimate on pg
SELECT 1 / count(*)
FROM pg_catalog.pg_attribute
WHERE attrelid = 'taskq.tasks'::regclass AND attname = 'name' AND 'n_distinct=100' = ANY (attoptions);
