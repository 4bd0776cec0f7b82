-- Revert taskq:types
BEGIN;
DROP TYPE taskq.status;
DROP TYPE taskq.priority;
COMMIT;
