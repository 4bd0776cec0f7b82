-- Verify taskq:control (reworked after v0.1.0)
SELECT pg_catalog.has_function_privilege('taskq.pause(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.resume(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.cancel(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.retry(uuid)', 'execute');
