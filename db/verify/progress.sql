-- Verify taskq:progress on pg
SELECT pg_catalog.has_function_privilege('taskq.report_progress(uuid, uuid, jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.report_progress(uuid[], uuid[], jsonb[])', 'execute');
