-- Deploy taskq:outcomes to pg (reworked after v0.1.0)
-- requires: outcomes@v0.1.0, enqueue, uuid_v7
--
--   taskq.backoff(attempt) for attempt n >= 1 returns 2^n seconds times a random factor in
--       [0.75, 1.25), then capped at 1 hour: always within [0.75 * 2^n s, 1 hour]. (v0.1.0 capped
--       first and jittered after, up to 75 minutes, and took NULL or a negative attempt.)
--       22004 for NULL, 22023 for n < 1.
--   taskq.complete(task_id, lease_token, result) as before; finished_at is the moment of the
--       call (clock_timestamp(), not the start of its transaction); 22023 for a result nested
--       deeper than 64 levels (taskq._check_depth), which no worker or client could decode.
--   taskq.fail(task_id, lease_token, error, retry_delay, now) as before, its times now (NULL,
--       the default: the moment of the call), so that tests see the retry's due time without
--       sleeping; 22008 for a retry_delay that ends after 9999-12-31 UTC (infinity, say). It
--       replaces fail(uuid, uuid, text, interval).
BEGIN;

CREATE FUNCTION taskq._backoff_problem(attempt integer)
RETURNS interval
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF _backoff_problem.attempt IS NULL THEN
        RAISE EXCEPTION 'backoff: attempt must not be NULL' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'attempt';
    END IF;
    RAISE EXCEPTION 'backoff: attempt must be at least 1, not %', _backoff_problem.attempt
        USING ERRCODE = 'invalid_parameter_value', COLUMN = 'attempt', HINT = 'attempts count from 1';
END;
$$;

COMMENT ON FUNCTION taskq._backoff_problem(integer) IS
    'Internal: raises 22004 / 22023 for an attempt backoff does not take; backoff calls it only for such an attempt.';

CREATE OR REPLACE FUNCTION taskq.backoff(attempt integer)
RETURNS interval
LANGUAGE sql
VOLATILE
AS $$
    -- the jitter first, then the cap: never more than an hour (2^12 s is already more)
    SELECT CASE WHEN backoff.attempt >= 1
                THEN least(interval '1 hour',
                           interval '1 second' * power(2, least(backoff.attempt, 20)) * (0.75 + random() / 2))
                ELSE taskq._backoff_problem(backoff.attempt) END
$$;

COMMENT ON FUNCTION taskq.backoff(integer) IS
    'The wait before retrying after failed attempt n (n >= 1): 2^n seconds times a random factor in [0.75, 1.25), then at most 1 hour. 22004 NULL; 22023 n < 1.';

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

DROP FUNCTION taskq.fail(uuid, uuid, text, interval);

CREATE FUNCTION taskq.fail(task_id uuid, lease_token uuid, error text, retry_delay interval DEFAULT NULL,
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

COMMIT;
