-- Revert taskq:claim from pg (to v0.10.0): _rescue_expired as it was
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
    -- No lease ran out: nothing to start an UPDATE for (the common case, at every claim).
    IF NOT EXISTS (SELECT FROM taskq.tasks t WHERE t.status = 'RUNNING' AND t.lease_expires_at < moment) THEN
        RETURN 0;
    END IF;
    FOR task IN
        -- SKIP LOCKED: a task being completed, failed or rescued right now is left to that call,
        -- and concurrent claims (which all rescue lazily) never wait for one another here.
        WITH expired AS (
            SELECT t.id FROM taskq.tasks t
            WHERE t.status = 'RUNNING' AND t.lease_expires_at < moment
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
