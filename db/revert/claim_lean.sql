-- Revert taskq:claim_lean from pg (back to v0.5.0)
BEGIN;

SET LOCAL ROLE taskq_owner;

ALTER TYPE taskq.claimed DROP ATTRIBUTE trace_context;

COMMENT ON TYPE taskq.claimed IS
    'A claimed task as taskq.claim returns it: what a worker needs to run it and report, and the timeout of the attempt (NULL: none).';

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
    SELECT c.id, c.queue, c.name, c.payload, c.priority, c.attempts, c.max_attempts, c.lease_token, c.lease_expires_at,
           coalesce(c.timeout, (SELECT q.default_timeout FROM taskq.queues q WHERE q.name = c.queue))
    FROM taskq.claim_next(claim.worker_id, claim.queues, claim.names, claim.lease, claim.batch_size) c
$$;

COMMENT ON FUNCTION taskq.claim(uuid, text[], text[], interval, integer) IS
    'claim_next, returning the 10 columns a worker reads (taskq.claimed): id, queue, name, payload, priority, attempts, max_attempts, lease_token, lease_expires_at, timeout (the task''s own, else its queue''s default; NULL: none). Same order and errors.';

CREATE OR REPLACE FUNCTION taskq.held_claims(worker_id uuid)
RETURNS SETOF taskq.claimed
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT t.id, t.queue, t.name, t.payload, t.priority, t.attempts, t.max_attempts, t.lease_token, t.lease_expires_at,
           coalesce(t.timeout, (SELECT q.default_timeout FROM taskq.queues q WHERE q.name = t.queue))
    FROM taskq.held_tasks(held_claims.worker_id) t
$$;

COMMENT ON FUNCTION taskq.held_claims(uuid) IS
    'held_tasks as taskq.claimed: the worker''s RUNNING tasks, oldest first, with their lease tokens and timeouts (a claim whose answer was lost shows here). P0002 for an unknown worker.';

COMMIT;
