-- Verify taskq:schedules on pg
SELECT name, task_name, cron, time_zone, payload, queue, priority, max_attempts, missed, next_run_at, last_run_at,
       last_task_id, created_at, updated_at
FROM taskq.schedules WHERE false;
SELECT name, next_run_at, next_run_local FROM taskq.schedule_info WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.cron_next(text, text, timestamptz)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.declare_schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.unschedule(text, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.get_schedule(text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.run_schedules()', 'execute');
