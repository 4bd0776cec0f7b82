-- Revert taskq:held_tasks from pg
BEGIN;

DROP FUNCTION taskq.held_tasks(uuid);

COMMIT;
