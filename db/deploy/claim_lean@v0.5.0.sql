-- Deploy taskq:claim_lean to pg (reworked after v0.4.0)
-- requires: claim_lean@v0.4.0
-- requires: queue_timeout
--
-- taskq.claimed gains timeout, last: the timeout in force for the attempt, the task's own
-- (taskq.tasks.timeout) or else its queue's default_timeout (NULL: none). The worker cancels a
-- handler that runs longer and fails the attempt.
--   taskq.claim(worker_id, queues, names, lease, batch_size) RETURNS SETOF taskq.claimed: still
--       claim_next with the columns a worker reads, now 10, in claim_next's order; a task
--       without a timeout of its own reads its queue's row by primary key (a subquery, not a
--       join, so that the order is claim_next's).
--   taskq.held_claims(worker_id) RETURNS SETOF taskq.claimed: held_tasks (the worker's RUNNING
--       tasks, oldest first; P0002 for an unknown worker) as taskq.claimed, so that a task
--       whose claim's answer was lost runs with its timeout too.
-- Measured against the v0.4.0 claim (no queue with a default timeout; a 2-core machine shared
-- with other work, so noisy): the drain section of make bench, two interleaved runs of each,
-- 16 paired figures, ratios 0.60 to 2.12, geometric mean 1.08; a claim of 50 alone, 400
-- interleaved pairs each rolled back: median paired ratio 1.00. No cost shows above the noise.
BEGIN;

SET LOCAL ROLE taskq_owner;

ALTER TYPE taskq.claimed ADD ATTRIBUTE timeout interval;

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

CREATE FUNCTION taskq.held_claims(worker_id uuid)
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

GRANT EXECUTE ON FUNCTION taskq.held_claims(uuid) TO taskq_worker;

COMMIT;
