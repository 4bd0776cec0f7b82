-- Revert taskq:outcomes from pg: back to v0.1.0's backoff, complete and fail.
BEGIN;

CREATE OR REPLACE FUNCTION taskq.backoff(attempt integer)
RETURNS interval
LANGUAGE sql
VOLATILE
AS $$
    SELECT least(interval '1 hour', interval '1 second' * power(2, least(backoff.attempt, 20)))
           * (0.75 + random() / 2)
$$;

COMMENT ON FUNCTION taskq.backoff(integer) IS
    'The wait before retrying after the given failed attempt: 2^attempt seconds (at most 1 hour), +/- 25% jitter.';

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
    UPDATE taskq.tasks t
    SET status = 'COMPLETED',
        finished_at = now(),
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
    'RUNNING -> COMPLETED with an optional JSON result; frees the slot. P0002 unknown task; 55000 not RUNNING or not the current lease_token.';

DROP FUNCTION taskq.fail(uuid, uuid, text, interval, timestamptz);

CREATE FUNCTION taskq.fail(task_id uuid, lease_token uuid, error text, retry_delay interval DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    failed taskq.tasks;
BEGIN
    IF fail.retry_delay < interval '0' THEN
        RAISE EXCEPTION 'retry_delay must not be negative, not %', fail.retry_delay
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE taskq.tasks t
    SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
        scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                            THEN now() + coalesce(fail.retry_delay, taskq.backoff(t.attempts))
                            ELSE t.scheduled_at END,
        finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                           THEN NULL ELSE now() END,
        last_error = fail.error,
        errors = t.errors || jsonb_build_object('attempt', t.attempts, 'at', now(), 'error', fail.error),
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

COMMENT ON FUNCTION taskq.fail(uuid, uuid, text, interval) IS
    'RUNNING -> QUEUED after retry_delay (default taskq.backoff) while attempts remain, else FAILED; CANCELLED when cancellation was asked. Keeps every error. P0002 / 55000 as complete.';

DROP FUNCTION taskq._backoff_problem(integer);

COMMIT;
