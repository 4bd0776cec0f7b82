-- Verify taskq:views
SELECT queue, concurrency, paused, queued, scheduled, running, paused_tasks, completed, failed,
       cancelled, oldest_wait
FROM taskq.queue_stats WHERE false;
SELECT id, time_to_execute FROM taskq.task_info WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.list_tasks(taskq.status, text, text, uuid, integer)', 'execute');
