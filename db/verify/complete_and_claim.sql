-- Verify taskq:complete_and_claim on pg
-- fails (division by zero) unless taskq_worker may call it
SELECT 1 / pg_catalog.has_function_privilege('taskq_worker',
    'taskq.complete_and_claim(uuid[], uuid[], jsonb[], uuid, text[], text[], interval, integer)', 'execute')::integer;
