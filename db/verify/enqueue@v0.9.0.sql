-- Verify taskq:enqueue (reworked after v0.5.0)
SELECT pg_catalog.has_function_privilege('taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval, jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.enqueue_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[], jsonb[])', 'execute');
