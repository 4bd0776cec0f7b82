-- Revert taskq:uuid_v7
BEGIN;
DROP FUNCTION taskq.uuid_v7(timestamptz);
COMMIT;
