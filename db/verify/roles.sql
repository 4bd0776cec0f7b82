-- Verify taskq:roles on pg
-- Raises (division by zero) unless taskq_owner owns the schema and enqueue, the roles can use
-- what they are granted, and PUBLIC cannot.
SELECT 1 / count(*) FROM pg_catalog.pg_namespace n
WHERE n.nspname = 'taskq' AND n.nspowner = 'taskq_owner'::regrole;
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer)'::regprocedure
  AND p.proowner = 'taskq_owner'::regrole;
SELECT 1 / (pg_catalog.has_function_privilege('taskq_producer', 'taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer)', 'execute')
            AND pg_catalog.has_function_privilege('taskq_worker', 'taskq.claim(uuid, text[], text[], interval, integer)', 'execute')
            AND pg_catalog.has_table_privilege('taskq_reader', 'taskq.queue_stats', 'select')
            AND pg_catalog.has_function_privilege('taskq_admin', 'taskq.cancel(uuid, text)', 'execute')
            AND NOT pg_catalog.has_function_privilege('public', 'taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer)', 'execute')
            AND NOT pg_catalog.has_schema_privilege('public', 'taskq', 'usage'))::integer;
