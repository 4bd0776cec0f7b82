-- Verify taskq:outcomes_many (reworked after v0.1.0)
SELECT pg_catalog.has_function_privilege('taskq.complete_many(jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail_many(jsonb)', 'execute');
-- 1 / 0 (division_by_zero) when complete_many and fail_many are still v0.1.0's
SELECT 1 / (count(*) / 2) FROM pg_catalog.pg_proc p
WHERE p.oid IN ('taskq.complete_many(jsonb)'::regprocedure, 'taskq.fail_many(jsonb)'::regprocedure)
  AND p.prosrc LIKE '%clock_timestamp()%';
