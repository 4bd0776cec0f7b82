-- Verify taskq:queues (reworked after v0.1.0)
SELECT name, concurrency, paused, excess, created_at FROM taskq.queues WHERE false;
SELECT id, queue, task_id FROM taskq.slots WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.set_concurrency(text, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.pause_queue(text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.resume_queue(text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._ensure_queue(text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._release_slot(text, bigint)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._check_name(text, text, text, text)', 'execute');
