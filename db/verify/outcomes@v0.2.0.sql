-- Verify taskq:outcomes (reworked after v0.1.0)
SELECT pg_catalog.has_function_privilege('taskq.complete(uuid, uuid, jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail(uuid, uuid, text, interval, timestamptz)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.backoff(integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._backoff_problem(integer)', 'execute');
