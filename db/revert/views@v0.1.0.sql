-- Revert taskq:views
BEGIN;
DROP FUNCTION taskq.list_tasks(taskq.status, text, text, uuid, integer);
DROP VIEW taskq.task_info;
DROP VIEW taskq.queue_stats;
COMMIT;
