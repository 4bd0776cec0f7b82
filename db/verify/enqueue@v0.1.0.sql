-- Verify taskq:enqueue
SELECT pg_catalog.has_function_privilege('taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.enqueue_many(jsonb)', 'execute');
