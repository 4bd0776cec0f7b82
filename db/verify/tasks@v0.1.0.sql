-- Verify taskq:tasks
SELECT id, queue, name, payload, priority, status, scheduled_at, created_at, started_at, finished_at,
       attempts, max_attempts, last_error, errors, result, worker_id, lease_token, lease_expires_at,
       cancel_requested, slot
FROM taskq.tasks WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.get_task(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._refuse(uuid, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._after_attempt(boolean, integer, integer)', 'execute');
