-- Revert taskq:enqueue
BEGIN;
DROP FUNCTION taskq.enqueue_many(jsonb);
DROP FUNCTION taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer);
DROP FUNCTION taskq._check_task(text, jsonb, integer, text);
DROP FUNCTION taskq._task_problem(text, jsonb, integer, text);
COMMIT;
