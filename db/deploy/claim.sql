-- Deploy taskq:claim to pg (reworked after v0.10.0)
-- requires: claim@v0.10.0
--
-- The rescue's first question, "has any lease run out?", reads tasks_leases in lease order
-- and stops at its first entry. As NOT EXISTS (... status = 'RUNNING' AND lease_expires_at <
-- moment) it left the index to the planner, and statistics taken while few tasks ran (a
-- drained queue, a fresh deployment) make tasks_leases and tasks_running_by_worker look equally
-- empty: the planner took the latter, and every claim read every RUNNING task (4,900 index
-- entries with 5,000 running; 2.1-2.5 ms of a claim with 20,000, PG18), until an ANALYZE. Only
-- tasks_leases yields the lease order, so the probe and the rescue's own scan (which now takes
-- the expired tasks oldest lease first) read it whatever the statistics say.
--
-- Only _rescue_expired changes; claim_next and the rest of the change are as at v0.10.0.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE OR REPLACE FUNCTION taskq._rescue_expired(now timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = taskq, pg_temp
AS $$
DECLARE
    rescued integer := 0;
    task record;
    moment timestamptz := _rescue_expired.now;
BEGIN
    -- No lease ran out: nothing to start an UPDATE for (the common case, at every claim). The
    -- lease that runs out first, read in lease order: only tasks_leases gives that order, so the
    -- probe reads one entry whatever the statistics say (see the header).
    IF (SELECT t.lease_expires_at FROM taskq.tasks t WHERE t.status = 'RUNNING'
        ORDER BY t.lease_expires_at LIMIT 1) >= moment IS NOT FALSE THEN
        RETURN 0;
    END IF;
    FOR task IN
        -- SKIP LOCKED: a task being completed, failed or rescued right now is left to that call,
        -- and concurrent claims (which all rescue lazily) never wait for one another here.
        WITH expired AS (
            SELECT t.id FROM taskq.tasks t
            WHERE t.status = 'RUNNING' AND t.lease_expires_at < moment
            ORDER BY t.lease_expires_at
            FOR UPDATE SKIP LOCKED
        )
        UPDATE taskq.tasks t
        SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
            scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                                THEN moment ELSE t.scheduled_at END,
            finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                               THEN NULL ELSE moment END,
            last_error = format('lease expired at %s: worker %s stopped heartbeating', t.lease_expires_at, t.worker_id),
            errors = t.errors || jsonb_build_object(
                'attempt', t.attempts, 'at', moment,
                'error', format('lease expired at %s: worker %s stopped heartbeating', t.lease_expires_at, t.worker_id)),
            lease_token = NULL,
            lease_expires_at = NULL
        -- by the primary keys taken, never a join (see the header of claim)
        WHERE t.id = ANY (ARRAY(SELECT e.id FROM expired e))
        RETURNING t.queue, t.slot
    LOOP
        PERFORM taskq._release_slot(task.queue, task.slot);
        rescued := rescued + 1;
    END LOOP;
    RETURN rescued;
END;
$$;

COMMENT ON FUNCTION taskq._rescue_expired(timestamptz) IS
    'Internal (SECURITY INVOKER: the schema owner only): rescue_expired as of the moment now, for tests that move a lease''s clock without sleeping.';

COMMIT;
