-- Revert taskq:outcomes_many from pg: back to v0.1.0's complete_many and fail_many.
BEGIN;

CREATE OR REPLACE FUNCTION taskq.complete_many(results jsonb)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    task_ids uuid[];
    settled taskq.tasks[];
BEGIN
    PERFORM taskq._check_outcomes(complete_many.results, 'complete_many',
                                  ARRAY['task_id', 'lease_token'], ARRAY['task_id', 'lease_token', 'result']);
    IF jsonb_array_length(complete_many.results) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg((e.item ->> 'task_id')::uuid ORDER BY e.ordinal) INTO task_ids
    FROM jsonb_array_elements(complete_many.results) WITH ORDINALITY AS e (item, ordinal);
    IF cardinality(task_ids) <> (SELECT count(DISTINCT i) FROM unnest(task_ids) AS i) THEN
        RAISE EXCEPTION 'complete_many: a task is listed more than once' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH input AS (
        SELECT (e.item ->> 'task_id')::uuid AS task_id, (e.item ->> 'lease_token')::uuid AS lease_token,
               e.item -> 'result' AS result
        FROM jsonb_array_elements(complete_many.results) AS e (item)
    ), done AS (
        UPDATE taskq.tasks t
        SET status = 'COMPLETED',
            finished_at = now(),
            result = i.result,
            lease_token = NULL,
            lease_expires_at = NULL
        FROM input i
        WHERE t.id = i.task_id AND t.status = 'RUNNING' AND t.lease_token = i.lease_token
        RETURNING t.*
    )
    SELECT coalesce(array_agg(d), '{}') INTO settled FROM done d;
    RETURN QUERY SELECT * FROM taskq._settle_many('complete_many', task_ids, settled,
        'only a RUNNING task can be completed, with the lease_token of its current claim (complete_many changed nothing)');
END;
$$;

COMMENT ON FUNCTION taskq.complete_many(jsonb) IS
    'complete() for many tasks in one call: a JSON array of {task_id, lease_token, result?}; returns the tasks in input order. All or nothing: 22023 bad argument, P0002 unknown task, 55000 naming the first task not RUNNING under that lease_token.';

CREATE OR REPLACE FUNCTION taskq.fail_many(failures jsonb)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    task_ids uuid[];
    settled taskq.tasks[];
    negative record;
BEGIN
    PERFORM taskq._check_outcomes(fail_many.failures, 'fail_many',
                                  ARRAY['task_id', 'lease_token', 'error'],
                                  ARRAY['task_id', 'lease_token', 'error', 'retry_delay']);
    IF jsonb_array_length(fail_many.failures) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg((e.item ->> 'task_id')::uuid ORDER BY e.ordinal) INTO task_ids
    FROM jsonb_array_elements(fail_many.failures) WITH ORDINALITY AS e (item, ordinal);
    IF cardinality(task_ids) <> (SELECT count(DISTINCT i) FROM unnest(task_ids) AS i) THEN
        RAISE EXCEPTION 'fail_many: a task is listed more than once' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT e.ordinal, e.item ->> 'retry_delay' AS delay INTO negative
    FROM jsonb_array_elements(fail_many.failures) WITH ORDINALITY AS e (item, ordinal)
    WHERE (e.item ->> 'retry_delay')::interval < interval '0'
    ORDER BY e.ordinal
    LIMIT 1;
    IF negative.ordinal IS NOT NULL THEN
        RAISE EXCEPTION 'fail_many: item #%: retry_delay must not be negative, not %', negative.ordinal, negative.delay
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH input AS (
        SELECT (e.item ->> 'task_id')::uuid AS task_id, (e.item ->> 'lease_token')::uuid AS lease_token,
               e.item ->> 'error' AS error, (e.item ->> 'retry_delay')::interval AS retry_delay
        FROM jsonb_array_elements(fail_many.failures) AS e (item)
    ), failed AS (
        -- the same outcome as taskq.fail(), row by row
        UPDATE taskq.tasks t
        SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
            scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                                THEN now() + coalesce(i.retry_delay, taskq.backoff(t.attempts))
                                ELSE t.scheduled_at END,
            finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                               THEN NULL ELSE now() END,
            last_error = i.error,
            errors = t.errors || jsonb_build_object('attempt', t.attempts, 'at', now(), 'error', i.error),
            lease_token = NULL,
            lease_expires_at = NULL
        FROM input i
        WHERE t.id = i.task_id AND t.status = 'RUNNING' AND t.lease_token = i.lease_token
        RETURNING t.*
    )
    SELECT coalesce(array_agg(f), '{}') INTO settled FROM failed f;
    RETURN QUERY SELECT * FROM taskq._settle_many('fail_many', task_ids, settled,
        'only a RUNNING task can be failed, with the lease_token of its current claim (fail_many changed nothing)');
END;
$$;

COMMENT ON FUNCTION taskq.fail_many(jsonb) IS
    'fail() for many tasks in one call: a JSON array of {task_id, lease_token, error, retry_delay?}; returns the tasks in input order. All or nothing: 22023 bad argument, P0002 unknown task, 55000 naming the first task not RUNNING under that lease_token.';

COMMIT;
