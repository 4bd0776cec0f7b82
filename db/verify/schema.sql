-- Verify taskq:schema
SELECT pg_catalog.has_schema_privilege('taskq', 'usage');
