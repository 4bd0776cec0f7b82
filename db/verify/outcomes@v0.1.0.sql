-- Verify taskq:outcomes
SELECT pg_catalog.has_function_privilege('taskq.complete(uuid, uuid, jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail(uuid, uuid, text, interval)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.backoff(integer)', 'execute');
