-- Verify taskq:queue_timeout on pg
SELECT pg_catalog.has_function_privilege('taskq.set_default_timeout(text, interval, text)', 'execute');
SELECT default_timeout FROM taskq.queues WHERE false;
