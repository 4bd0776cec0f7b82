-- Deploy taskq:claim_lean to pg
-- requires: claim
--
-- taskq.claim(worker_id, queues, names, lease, batch_size) RETURNS SETOF taskq.claimed: the
-- claim of claim_next (the same statement, order, settings, errors and NOTIFYs: it calls it),
-- returning only what a worker reads: id, queue, name, payload, priority, attempts,
-- max_attempts, lease_token, lease_expires_at. The server then encodes 9 columns a task, not 20,
-- and the worker decodes them. claim_next is unchanged, so it is no slower. Measured (PostgreSQL
-- 18, 2 busy cores, 20,000 tasks, each call of 50 rolled back so that both claim the same
-- tasks, 500 interleaved pairs): a claim of 50 fetched by psycopg took 0.88x the time of
-- claim_next's (median 5.1 ms against 6.1 ms).
-- Measured and not taken (pgbench -M prepared, claim + complete_many over arrays, batch 50,
-- interleaved, 5 repetitions, medians of paired ratios):
--   rescue at most once a second inside claims: a second rescue_expired() per batch, with
--   leases of 1 second running out during the drain, cost nothing measurable (1.02x of one,
--   0.71-1.10), so every claim still rescues;
--   tasks_status_id and tasks_running_by_worker replaced by an index on the rare statuses: 1.05x
--   (0.89-1.14), within the noise, though WAL records per task fell from 10.4 to 7.4.
BEGIN;

CREATE TYPE taskq.claimed AS (
    id               uuid,
    queue            text,
    name             text,
    payload          jsonb,
    priority         taskq.priority,
    attempts         integer,
    max_attempts     integer,
    lease_token      uuid,
    lease_expires_at timestamptz
);

COMMENT ON TYPE taskq.claimed IS 'A claimed task as taskq.claim returns it: what a worker needs to run it and report.';

CREATE FUNCTION taskq.claim(
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
