-- Revert taskq:outcomes
BEGIN;
DROP FUNCTION taskq.fail(uuid, uuid, text, interval);
DROP FUNCTION taskq.complete(uuid, uuid, jsonb);
DROP FUNCTION taskq.backoff(integer);
COMMIT;
