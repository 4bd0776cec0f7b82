-- Revert taskq:name_estimate from pg
BEGIN;

ALTER TABLE taskq.tasks ALTER COLUMN name RESET (n_distinct);
ANALYZE taskq.tasks;

COMMIT;
