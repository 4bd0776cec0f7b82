-- Revert taskq:tasks
BEGIN;
DROP FUNCTION taskq.get_task(uuid);
DROP FUNCTION taskq._refuse(uuid, text);
DROP FUNCTION taskq._after_attempt(boolean, integer, integer);
DROP TABLE taskq.tasks;
COMMIT;
