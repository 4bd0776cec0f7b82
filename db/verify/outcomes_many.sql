-- Verify taskq:outcomes_many (reworked after v0.2.0)
SELECT pg_catalog.has_function_privilege('taskq.complete_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.complete_many(uuid[], uuid[], jsonb[])', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail_many(uuid[], uuid[], text[], interval[])', 'execute');
