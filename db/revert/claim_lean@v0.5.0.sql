-- Revert taskq:claim_lean from pg (back to v0.4.0)
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.held_claims(uuid);

ALTER TYPE taskq.claimed DROP ATTRIBUTE timeout;

COMMENT ON TYPE taskq.claimed IS 'A claimed task as taskq.claim returns it: what a worker needs to run it and report.';

CREATE OR REPLACE FUNCTION taskq.claim(
    worker_id uuid,
    queues text[] DEFAULT NULL,
    names text[] DEFAULT NULL,
    lease interval DEFAULT '30 seconds',
    batch_size integer DEFAULT 1
)
RETURNS SETOF taskq.claimed
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT c.id, c.queue, c.name, c.payload, c.priority, c.attempts, c.max_attempts, c.lease_token, c.lease_expires_at
    FROM taskq.claim_next(claim.worker_id, claim.queues, claim.names, claim.lease, claim.batch_size) c
$$;

COMMENT ON FUNCTION taskq.claim(uuid, text[], text[], interval, integer) IS
    'claim_next, returning the 9 columns a worker reads (taskq.claimed): id, queue, name, payload, priority, attempts, max_attempts, lease_token, lease_expires_at. Same order and errors.';

COMMIT;
