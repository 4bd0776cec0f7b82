-- Verify taskq:views (reworked after v0.1.0)
SELECT queue, concurrency, paused, queued, scheduled, running, paused_tasks, completed, failed,
       cancelled, oldest_wait, unhandled
FROM taskq.queue_stats WHERE false;
SELECT queue, name, queued, oldest_wait FROM taskq.unhandled_tasks WHERE false;
SELECT id, time_to_execute FROM taskq.task_info WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.list_tasks(taskq.status, text, text, uuid, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._elapsed(timestamptz, timestamptz)', 'execute');
