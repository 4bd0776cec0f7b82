-- Revert taskq:outcomes from pg: back to v0.2.0's complete and fail, each with its own UPDATE.
BEGIN;

CREATE OR REPLACE FUNCTION taskq.complete(task_id uuid, lease_token uuid, result jsonb DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    done taskq.tasks;
BEGIN
    PERFORM taskq._check_depth(complete.result, 'result', 'result');
    UPDATE taskq.tasks t
    SET status = 'COMPLETED',
        finished_at = clock_timestamp(),
        result = complete.result,
        lease_token = NULL,
        lease_expires_at = NULL
    WHERE t.id = complete.task_id AND t.status = 'RUNNING' AND t.lease_token = complete.lease_token
    RETURNING t.* INTO done;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(complete.task_id, 'only a RUNNING task can be completed, with the lease_token of its current claim');
    END IF;
    PERFORM taskq._release_slot(done.queue, done.slot);
    RETURN done;
END;
$$;

COMMENT ON FUNCTION taskq.complete(uuid, uuid, jsonb) IS
    'RUNNING -> COMPLETED with an optional JSON result (nested at most 64 levels, else 22023); finished_at is the moment of the call; frees the slot. P0002 unknown task; 55000 not RUNNING or not the current lease_token.';

CREATE OR REPLACE FUNCTION taskq.fail(task_id uuid, lease_token uuid, error text, retry_delay interval DEFAULT NULL,
                           now timestamptz DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    failed taskq.tasks;
    -- the moment of the call, not the start of its transaction; one for the whole statement
    moment timestamptz := coalesce(fail.now, clock_timestamp());
BEGIN
    IF fail.retry_delay < interval '0' THEN
        RAISE EXCEPTION 'retry_delay must not be negative, not %', fail.retry_delay
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'retry_delay';
    END IF;
    PERFORM taskq._check_until(moment, fail.retry_delay, 'retry_delay', 'retry_delay');
    UPDATE taskq.tasks t
    SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
        scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                            THEN moment + coalesce(fail.retry_delay, taskq.backoff(t.attempts))
                            ELSE t.scheduled_at END,
        finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                           THEN NULL ELSE moment END,
        last_error = fail.error,
        errors = t.errors || jsonb_build_object('attempt', t.attempts, 'at', moment, 'error', fail.error),
        lease_token = NULL,
        lease_expires_at = NULL
    WHERE t.id = fail.task_id AND t.status = 'RUNNING' AND t.lease_token = fail.lease_token
    RETURNING t.* INTO failed;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(fail.task_id, 'only a RUNNING task can be failed, with the lease_token of its current claim');
    END IF;
    PERFORM taskq._release_slot(failed.queue, failed.slot);
    RETURN failed;
END;
$$;

COMMENT ON FUNCTION taskq.fail(uuid, uuid, text, interval, timestamptz) IS
    'RUNNING -> QUEUED after retry_delay (default taskq.backoff) while attempts remain, else FAILED; CANCELLED when cancellation was asked. Keeps every error; times are now (NULL: the moment of the call). 22023 negative retry_delay, 22008 one that ends after 9999; P0002 / 55000 as complete.';

DROP FUNCTION taskq._check_delays(timestamptz, interval[], text, text);
DROP FUNCTION taskq._fail(text, uuid[], uuid[], text[], interval[], timestamptz, text, text, text);
DROP FUNCTION taskq._complete(text, uuid[], uuid[], jsonb[], text, text, text, boolean);
DROP FUNCTION taskq._settled(text, uuid[], uuid[], uuid[], text[], bigint[], text, text, text);
DROP FUNCTION taskq._release_slots(text[], bigint[]);

COMMIT;
