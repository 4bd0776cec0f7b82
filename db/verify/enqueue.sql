-- Verify taskq:enqueue (reworked after v0.9.0)
SELECT pg_catalog.has_function_privilege('taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval, jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.enqueue_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[], jsonb[])', 'execute');
-- 1 / 0 (division_by_zero) when taskq.enqueue still takes every task through taskq._enqueue
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval, jsonb)'::regprocedure
  AND p.prosrc LIKE '%IF enqueue.unique_key IS NULL THEN%';
