-- Verify taskq:enqueue (reworked after v0.1.0)
SELECT pg_catalog.has_function_privilege('taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.enqueue_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._check_depth(jsonb, text, text, text)', 'execute');
