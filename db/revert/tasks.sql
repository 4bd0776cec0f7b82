-- Revert taskq:tasks
BEGIN;
DROP FUNCTION taskq.get_task(uuid);
DROP FUNCTION taskq._refuse(uuid, text);
DROP TABLE taskq.tasks;
COMMIT;
