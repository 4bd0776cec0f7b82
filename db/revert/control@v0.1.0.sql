-- Revert taskq:control
BEGIN;
DROP FUNCTION taskq.retry(uuid);
DROP FUNCTION taskq.cancel(uuid);
DROP FUNCTION taskq.resume(uuid);
DROP FUNCTION taskq.pause(uuid);
COMMIT;
