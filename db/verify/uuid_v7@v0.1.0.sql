-- Verify taskq:uuid_v7
SELECT pg_catalog.has_function_privilege('taskq.uuid_v7(timestamptz)', 'execute');
