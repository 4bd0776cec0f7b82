-- Verify taskq:control (reworked after v0.3.0)
SELECT pg_catalog.has_function_privilege('taskq.pause(uuid, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.resume(uuid, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.cancel(uuid, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.retry(uuid, text)', 'execute');
