-- Verify taskq:held_tasks on pg
SELECT pg_catalog.has_function_privilege('taskq.held_tasks(uuid)', 'execute');
