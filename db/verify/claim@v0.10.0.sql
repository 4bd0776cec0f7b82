-- Verify taskq:claim (reworked after v0.8.0)
SELECT pg_catalog.has_function_privilege('taskq.rescue_expired()', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._rescue_expired(timestamptz)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.claim_next(uuid, text[], text[], interval, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.next_due(text[])', 'execute');
-- 1 / 0 (division_by_zero) when the index of the claim by name is missing
SELECT 1 / count(*) FROM pg_catalog.pg_class c
WHERE c.oid = to_regclass('taskq.tasks_claimable_by_name');
-- ... or when claim_next does not carry every setting of claim_index_order
SELECT 1 / count(*)
FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.claim_next(uuid, text[], text[], interval, integer)'::regprocedure
  AND p.proconfig @> ARRAY['enable_sort=off', 'jit=off', 'plan_cache_mode=force_generic_plan',
                           'enable_seqscan=off', 'enable_hashjoin=off'];
-- ... or when the index's predicate is not status <= 'QUEUED', the one the claim of names states
SELECT 1 / count(*) FROM pg_catalog.pg_indexes i
WHERE i.schemaname = 'taskq' AND i.indexname = 'tasks_claimable_by_name'
  AND i.indexdef LIKE '%WHERE (status <= ''QUEUED''::taskq.status)%';
-- ... or when next_due does not know the rate limits
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.next_due(text[])'::regprocedure AND p.prosrc LIKE '%rate_per%';
-- ... or when the claim or the rescue still joins what it took to the tasks
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.claim_next(uuid, text[], text[], interval, integer)'::regprocedure
  AND p.prosrc LIKE '%WHERE t.id = ANY ((SELECT tk.ids FROM taking tk)::uuid[])%';
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq._rescue_expired(timestamptz)'::regprocedure
  AND p.prosrc LIKE '%WHERE t.id = ANY (ARRAY(SELECT e.id FROM expired e))%';
-- ... or when claim_next has no statement for queues without limits, or the rescue starts its
-- UPDATE when no lease ran out
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.claim_next(uuid, text[], text[], interval, integer)'::regprocedure
  AND p.prosrc LIKE '%IF NOT any_limit THEN%';
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq._rescue_expired(timestamptz)'::regprocedure
  AND p.prosrc LIKE '%IF NOT EXISTS (SELECT FROM taskq.tasks t WHERE t.status = ''RUNNING'' AND t.lease_expires_at < moment)%';
