-- Deploy taskq:complete_and_claim to pg
-- requires: outcomes_many
-- requires: claim_lean
-- requires: roles
--
-- A worker's report and its next claim in one call, one transaction, one round trip:
--   taskq.complete_and_claim(task_ids, lease_tokens, results, worker_id, queues, names, lease,
--       batch_size) RETURNS SETOF taskq.claimed: complete_many(task_ids, lease_tokens, results),
--       then claim(worker_id, queues, names, lease, batch_size), what claim returns.
-- All or nothing: what complete_many raises (its messages name complete_many) or what claim
-- raises, and neither the completions nor the claim happened. The slots, key places and rate
-- the completions free are free for the claim that follows in the same transaction: on a
-- slot-limited queue the freed slot's next task starts in the call that frees it, instead of
-- after the commit, a NOTIFY and another claim's round trip. The completions still notify their
-- slot-limited queues, for the other workers.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE FUNCTION taskq.complete_and_claim(
    task_ids uuid[],
    lease_tokens uuid[],
    results jsonb[],
    worker_id uuid,
    queues text[] DEFAULT NULL,
    names text[] DEFAULT NULL,
    lease interval DEFAULT '30 seconds',
    batch_size integer DEFAULT 1
)
RETURNS SETOF taskq.claimed
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    PERFORM taskq.complete_many(complete_and_claim.task_ids, complete_and_claim.lease_tokens, complete_and_claim.results);
    RETURN QUERY
    SELECT * FROM taskq.claim(complete_and_claim.worker_id, complete_and_claim.queues, complete_and_claim.names,
                              complete_and_claim.lease, complete_and_claim.batch_size);
END;
$$;

COMMENT ON FUNCTION taskq.complete_and_claim(uuid[], uuid[], jsonb[], uuid, text[], text[], interval, integer) IS
    'complete_many(task_ids, lease_tokens, results), then claim(worker_id, queues, names, lease, batch_size), in one transaction: what claim returns. The slots the completions free are free for the claim. All or nothing: the errors of complete_many (its messages name it), then those of claim.';

GRANT EXECUTE ON FUNCTION taskq.complete_and_claim(uuid[], uuid[], jsonb[], uuid, text[], text[], interval, integer)
    TO taskq_worker;

COMMIT;
