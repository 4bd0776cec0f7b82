-- Verify taskq:uuid_v7 (reworked after v0.1.0)
SELECT pg_catalog.has_function_privilege('taskq.uuid_v7(timestamptz)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._check_time(timestamptz, text, text, timestamptz)', 'execute');
