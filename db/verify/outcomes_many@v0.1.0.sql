-- Verify taskq:outcomes_many
SELECT pg_catalog.has_function_privilege('taskq.complete_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail_many(jsonb)', 'execute');
