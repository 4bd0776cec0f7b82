-- Verify taskq:claim_index_order
-- 1 / 0 (division_by_zero) when claim_next does not carry every setting
SELECT 1 / count(*)
FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.claim_next(uuid, text[], text[], interval, integer)'::regprocedure
  AND p.proconfig @> ARRAY['enable_sort=off', 'jit=off', 'plan_cache_mode=force_generic_plan',
                           'enable_seqscan=off', 'enable_hashjoin=off'];
