-- Verify taskq:tasks (reworked after v0.1.0)
SELECT id, queue, name, payload, priority, status, scheduled_at, created_at, started_at, finished_at,
       attempts, max_attempts, last_error, errors, result, worker_id, lease_token, lease_expires_at,
       cancel_requested, slot
FROM taskq.tasks WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.get_task(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._refuse(uuid, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._after_attempt(boolean, integer, integer)', 'execute');
-- 1 / 0 (division_by_zero) when _refuse and get_task are still v0.1.0's
SELECT 1 / (count(*) / 2) FROM pg_catalog.pg_proc p
WHERE p.oid IN ('taskq._refuse(uuid, text)'::regprocedure, 'taskq.get_task(uuid)'::regprocedure)
  AND p.prosrc LIKE '%TABLE = ''tasks''%';
