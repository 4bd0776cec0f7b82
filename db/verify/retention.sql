-- Verify taskq:retention on pg
SELECT name, retain_completed, retain_failed, retain_cancelled FROM taskq.queues WHERE false;
SELECT queue, completed, failed, cancelled FROM taskq.queue_retention WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.set_retention(text, interval, interval, interval, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.prune(integer, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.maintain(integer)', 'execute');
