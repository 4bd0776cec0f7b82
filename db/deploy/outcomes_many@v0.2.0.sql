-- Deploy taskq:outcomes_many to pg (reworked after v0.1.0)
-- requires: outcomes_many@v0.1.0, outcomes, enqueue, uuid_v7
--
-- complete_many and fail_many keep the rules complete and fail keep:
--   taskq.complete_many(results) refuses (22023, nothing changed) an item whose result is nested
--       deeper than 64 levels; finished_at is the moment of the call.
--   taskq.fail_many(failures) refuses (22008, nothing changed) an item whose retry_delay ends
--       after 9999-12-31 UTC; its times are the moment of the call.
-- Every 22xxx they raise carries COLUMN: results or failures, or results[i] / failures[i] and
-- .<key> for item i (counted from 0; the message's #n counts from 1) (taskq._check_outcomes).
BEGIN;

CREATE OR REPLACE FUNCTION taskq._check_outcomes(items jsonb, call text, required text[], allowed text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    problem record;
    -- the parameter the items came in, for COLUMN: complete_many(results), fail_many(failures)
    param text := CASE _check_outcomes.call WHEN 'complete_many' THEN 'results' ELSE 'failures' END;
BEGIN
    IF jsonb_typeof(_check_outcomes.items) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '% takes a JSON array of objects, not %', _check_outcomes.call,
                coalesce(jsonb_typeof(_check_outcomes.items), 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = param;
    END IF;
    SELECT e.ordinal, jsonb_typeof(e.item) AS kind,
           (SELECT k.key FROM jsonb_object_keys(CASE WHEN jsonb_typeof(e.item) = 'object' THEN e.item END) AS k (key)
            WHERE k.key <> ALL (_check_outcomes.allowed) LIMIT 1) AS unknown,
           (SELECT r.key FROM unnest(_check_outcomes.required) AS r (key)
            WHERE jsonb_typeof(e.item) = 'object' AND jsonb_typeof(e.item -> r.key) IS DISTINCT FROM 'string'
            LIMIT 1) AS missing
    INTO problem
    FROM jsonb_array_elements(_check_outcomes.items) WITH ORDINALITY AS e (item, ordinal)
    WHERE jsonb_typeof(e.item) <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(e.item) AS k (key) WHERE k.key <> ALL (_check_outcomes.allowed))
       OR EXISTS (SELECT 1 FROM unnest(_check_outcomes.required) AS r (key)
                  WHERE jsonb_typeof(e.item -> r.key) IS DISTINCT FROM 'string')
    ORDER BY e.ordinal
    LIMIT 1;
    IF problem.ordinal IS NULL THEN
        RETURN;
    ELSIF problem.kind <> 'object' THEN
        RAISE EXCEPTION '%: item #% must be a JSON object, not %', _check_outcomes.call, problem.ordinal, problem.kind
            USING ERRCODE = 'invalid_parameter_value', COLUMN = format('%s[%s]', param, problem.ordinal - 1);
    ELSIF problem.unknown IS NOT NULL THEN
        RAISE EXCEPTION '%: item #% has an unknown key "%"', _check_outcomes.call, problem.ordinal, problem.unknown
            USING ERRCODE = 'invalid_parameter_value',
                  COLUMN = format('%s[%s].%s', param, problem.ordinal - 1, problem.unknown),
                  HINT = format('the keys are %s', array_to_string(_check_outcomes.allowed, ', '));
    ELSE
        RAISE EXCEPTION '%: item #% needs "%" as a string', _check_outcomes.call, problem.ordinal, problem.missing
            USING ERRCODE = 'invalid_parameter_value',
                  COLUMN = format('%s[%s].%s', param, problem.ordinal - 1, problem.missing);
    END IF;
END;
$$;

COMMENT ON FUNCTION taskq._check_outcomes(jsonb, text, text[], text[]) IS
    'Internal: the argument checks complete_many and fail_many share; raises 22023 naming the first bad item, COLUMN = results[i] / failures[i] (.key).';


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
    -- the moment of the call, not the start of its transaction
    moment timestamptz := clock_timestamp();
BEGIN
    PERFORM taskq._check_outcomes(complete_many.results, 'complete_many',
                                  ARRAY['task_id', 'lease_token'], ARRAY['task_id', 'lease_token', 'result']);
    IF jsonb_array_length(complete_many.results) = 0 THEN
        RETURN;
    END IF;
    PERFORM taskq._check_depth(e.item -> 'result', 'result', format('results[%s].result', e.ordinal - 1),
                               format('complete_many: item #%s: ', e.ordinal))
    FROM jsonb_array_elements(complete_many.results) WITH ORDINALITY AS e (item, ordinal);
    SELECT array_agg((e.item ->> 'task_id')::uuid ORDER BY e.ordinal) INTO task_ids
    FROM jsonb_array_elements(complete_many.results) WITH ORDINALITY AS e (item, ordinal);
    IF cardinality(task_ids) <> (SELECT count(DISTINCT i) FROM unnest(task_ids) AS i) THEN
        RAISE EXCEPTION 'complete_many: a task is listed more than once'
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'results';
    END IF;
    WITH input AS (
        SELECT (e.item ->> 'task_id')::uuid AS task_id, (e.item ->> 'lease_token')::uuid AS lease_token,
               e.item -> 'result' AS result
        FROM jsonb_array_elements(complete_many.results) AS e (item)
    ), done AS (
        UPDATE taskq.tasks t
        SET status = 'COMPLETED',
            finished_at = moment,
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
    'complete() for many tasks in one call: a JSON array of {task_id, lease_token, result?}; returns the tasks in input order. All or nothing: 22023 bad argument (a result nested deeper than 64 levels too), P0002 unknown task, 55000 naming the first task not RUNNING under that lease_token.';

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
    -- the moment of the call, not the start of its transaction; one for the whole statement
    moment timestamptz := clock_timestamp();
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
        RAISE EXCEPTION 'fail_many: a task is listed more than once'
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'failures';
    END IF;
    SELECT e.ordinal, e.item ->> 'retry_delay' AS delay INTO negative
    FROM jsonb_array_elements(fail_many.failures) WITH ORDINALITY AS e (item, ordinal)
    WHERE (e.item ->> 'retry_delay')::interval < interval '0'
    ORDER BY e.ordinal
    LIMIT 1;
    IF negative.ordinal IS NOT NULL THEN
        RAISE EXCEPTION 'fail_many: item #%: retry_delay must not be negative, not %', negative.ordinal, negative.delay
            USING ERRCODE = 'invalid_parameter_value', COLUMN = format('failures[%s].retry_delay', negative.ordinal - 1);
    END IF;
    PERFORM taskq._check_until(moment, (e.item ->> 'retry_delay')::interval,
                               format('fail_many: item #%s: retry_delay', e.ordinal),
                               format('failures[%s].retry_delay', e.ordinal - 1))
    FROM jsonb_array_elements(fail_many.failures) WITH ORDINALITY AS e (item, ordinal)
    WHERE e.item ? 'retry_delay';
    WITH input AS (
        SELECT (e.item ->> 'task_id')::uuid AS task_id, (e.item ->> 'lease_token')::uuid AS lease_token,
               e.item ->> 'error' AS error, (e.item ->> 'retry_delay')::interval AS retry_delay
        FROM jsonb_array_elements(fail_many.failures) AS e (item)
    ), failed AS (
        -- the same outcome as taskq.fail(), row by row
        UPDATE taskq.tasks t
        SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
            scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                                THEN moment + coalesce(i.retry_delay, taskq.backoff(t.attempts))
                                ELSE t.scheduled_at END,
            finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                               THEN NULL ELSE moment END,
            last_error = i.error,
            errors = t.errors || jsonb_build_object('attempt', t.attempts, 'at', moment, 'error', i.error),
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
    'fail() for many tasks in one call: a JSON array of {task_id, lease_token, error, retry_delay?}; returns the tasks in input order. All or nothing: 22023 bad argument, 22008 a retry_delay that ends after 9999, P0002 unknown task, 55000 naming the first task not RUNNING under that lease_token.';

COMMIT;
