-- Deploy taskq:outcomes_many to pg (reworked after v0.2.0)
-- requires: outcomes_many@v0.2.0, outcomes
--
-- The outcomes of a batch as arrays, beside the JSON forms, for workers: no JSON to check and
-- take apart, nothing returned but what the worker reads, and one UPDATE of the slots per batch.
--   taskq.complete_many(task_ids uuid[], lease_tokens uuid[], results jsonb[] DEFAULT NULL)
--       completes task_ids[i] under lease_tokens[i] with results[i] (results NULL: every result
--       NULL). Returns how many tasks it completed: all of them (cardinality(task_ids)), or it
--       raises and changed nothing.
--   taskq.fail_many(task_ids uuid[], lease_tokens uuid[], errors text[], retry_delays interval[]
--       DEFAULT NULL) fails task_ids[i] with errors[i] and retry_delays[i] (NULL: backoff), as
--       fail() does. Returns (id, status, scheduled_at) of each task, in input order.
--   Both raise 22004 for a NULL array or a NULL id or token in it, 22023 for an array that is not
--   one-dimensional from 1 or whose length differs from task_ids (COLUMN names the array) and for a
--   task listed twice; complete_many 22023 for a result nested deeper than 64 levels
--   (COLUMN results[i]); fail_many 22023 / 22008 for a retry delay that is negative or ends after
--   9999 (COLUMN retry_delays[i]); then P0002 / 55000 naming the first task (TABLE tasks, DETAIL
--   {"task_id", "status"}) that is not RUNNING under that lease_token. Positions i count from 1,
--   as SQL subscripts do. Empty arrays: 0, no rows.
--   taskq.complete_many(jsonb) and fail_many(jsonb) keep their checks, errors and rows; they and
--   the array forms settle through taskq._complete and taskq._fail, as complete and fail do.
--   A completion on an unlimited queue no longer notifies (see outcomes).
--   taskq._settle_many, which only the JSON forms used, is dropped.
-- Measured (pgbench -M prepared, 1 client, batch 50, 20,000 tasks, v0.2.0 and this change
-- interleaved in one run, 5 repetitions, medians of the paired ratios; 2 busy cores, so
-- 20-50 % noise): on a queue of 200 slots the JSON form 1.83x v0.2.0's (1.62-2.31), claim with
-- the array form 2.17x (1.40-2.64), from the slots freed in one UPDATE; on an unlimited queue
-- claim with the array form 1.23x (0.95-2.57) and the JSON form 0.89x (0.77-1.87), within the
-- noise. WAL records per task unchanged (10.4 unlimited, 14.5 with slots).
BEGIN;

CREATE FUNCTION taskq._check_list(call text, field text, list anyarray, length integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF _check_list.list IS NULL THEN
        RAISE EXCEPTION '%: % must not be NULL', _check_list.call, _check_list.field
            USING ERRCODE = 'null_value_not_allowed', COLUMN = _check_list.field;
    ELSIF array_ndims(_check_list.list) > 1 OR array_lower(_check_list.list, 1) <> 1 THEN
        RAISE EXCEPTION '%: % must be a one-dimensional array subscripted from 1, not %', _check_list.call,
                _check_list.field, array_dims(_check_list.list)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _check_list.field;
    ELSIF cardinality(_check_list.list) <> _check_list.length THEN
        RAISE EXCEPTION '%: % has % elements, task_ids %', _check_list.call, _check_list.field,
                cardinality(_check_list.list), _check_list.length
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _check_list.field,
                  HINT = 'the arrays are matched by position: one element per task';
    END IF;
END;
$$;

COMMENT ON FUNCTION taskq._check_list(text, text, anyarray, integer) IS
    'Internal: an array argument of complete_many / fail_many: 22004 NULL, 22023 not one-dimensional from 1 or not of the length of task_ids; COLUMN = field.';

CREATE FUNCTION taskq.complete_many(task_ids uuid[], lease_tokens uuid[], results jsonb[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    PERFORM taskq._check_list('complete_many', 'task_ids', complete_many.task_ids, cardinality(complete_many.task_ids));
    PERFORM taskq._check_list('complete_many', 'lease_tokens', complete_many.lease_tokens,
                              cardinality(complete_many.task_ids));
    IF complete_many.results IS NOT NULL THEN
        PERFORM taskq._check_list('complete_many', 'results', complete_many.results, cardinality(complete_many.task_ids));
        PERFORM taskq._check_depth(r.result, format('results[%s]', r.ordinal), format('results[%s]', r.ordinal),
                                   'complete_many: ')
        FROM unnest(complete_many.results) WITH ORDINALITY AS r (result, ordinal)
        WHERE r.result IS NOT NULL;
    END IF;
    IF cardinality(complete_many.task_ids) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM FROM taskq._complete('complete_many', complete_many.task_ids, complete_many.lease_tokens,
                                 complete_many.results,
                                 'only a RUNNING task can be completed, with the lease_token of its current claim (complete_many changed nothing)',
                                 'task_ids', 'lease_tokens', false);
    RETURN cardinality(complete_many.task_ids);
END;
$$;

COMMENT ON FUNCTION taskq.complete_many(uuid[], uuid[], jsonb[]) IS
    'complete() for many tasks as arrays matched by position: task_ids[i] under lease_tokens[i] with results[i] (results NULL: no results). Returns how many were completed (all). All or nothing: 22004 / 22023 bad arrays or a task listed twice, P0002 unknown task, 55000 naming the first task not RUNNING under its lease_token.';

CREATE FUNCTION taskq.fail_many(task_ids uuid[], lease_tokens uuid[], errors text[], retry_delays interval[] DEFAULT NULL)
RETURNS TABLE (id uuid, status taskq.status, scheduled_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    -- the moment of the call, not the start of its transaction; one for the whole statement
    moment timestamptz := clock_timestamp();
BEGIN
    PERFORM taskq._check_list('fail_many', 'task_ids', fail_many.task_ids, cardinality(fail_many.task_ids));
    PERFORM taskq._check_list('fail_many', 'lease_tokens', fail_many.lease_tokens, cardinality(fail_many.task_ids));
    PERFORM taskq._check_list('fail_many', 'errors', fail_many.errors, cardinality(fail_many.task_ids));
    IF fail_many.retry_delays IS NOT NULL THEN
        PERFORM taskq._check_list('fail_many', 'retry_delays', fail_many.retry_delays, cardinality(fail_many.task_ids));
        PERFORM taskq._check_delays(moment, fail_many.retry_delays, 'fail_many: retry_delays[%1$s]', 'retry_delays[%1$s]');
    END IF;
    IF cardinality(fail_many.task_ids) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT f.id, f.status, f.scheduled_at
    FROM taskq._fail('fail_many', fail_many.task_ids, fail_many.lease_tokens, fail_many.errors, fail_many.retry_delays,
                     moment, 'only a RUNNING task can be failed, with the lease_token of its current claim (fail_many changed nothing)',
                     'task_ids', 'lease_tokens') f;
END;
$$;

COMMENT ON FUNCTION taskq.fail_many(uuid[], uuid[], text[], interval[]) IS
    'fail() for many tasks as arrays matched by position: task_ids[i] under lease_tokens[i] with errors[i] and retry_delays[i] (NULL: backoff). Returns (id, status, scheduled_at) in input order. All or nothing: 22004 / 22023 bad arrays or a task listed twice, 22023 / 22008 a retry delay negative or past 9999, P0002 / 55000 as complete_many.';

CREATE OR REPLACE FUNCTION taskq.complete_many(results jsonb)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    task_ids uuid[];
    lease_tokens uuid[];
    outcomes jsonb[];
BEGIN
    PERFORM taskq._check_outcomes(complete_many.results, 'complete_many',
                                  ARRAY['task_id', 'lease_token'], ARRAY['task_id', 'lease_token', 'result']);
    IF jsonb_array_length(complete_many.results) = 0 THEN
        RETURN;
    END IF;
    PERFORM taskq._check_depth(e.item -> 'result', 'result', format('results[%s].result', e.ordinal - 1),
                               format('complete_many: item #%s: ', e.ordinal))
    FROM jsonb_array_elements(complete_many.results) WITH ORDINALITY AS e (item, ordinal);
    SELECT array_agg((e.item ->> 'task_id')::uuid ORDER BY e.ordinal),
           array_agg((e.item ->> 'lease_token')::uuid ORDER BY e.ordinal),
           array_agg(e.item -> 'result' ORDER BY e.ordinal)
    INTO task_ids, lease_tokens, outcomes
    FROM jsonb_array_elements(complete_many.results) WITH ORDINALITY AS e (item, ordinal);
    RETURN QUERY
    SELECT * FROM taskq._complete('complete_many', task_ids, lease_tokens, outcomes,
        'only a RUNNING task can be completed, with the lease_token of its current claim (complete_many changed nothing)',
        'results', NULL, true);
END;
$$;

CREATE OR REPLACE FUNCTION taskq.fail_many(failures jsonb)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    task_ids uuid[];
    lease_tokens uuid[];
    errors text[];
    retry_delays interval[];
    -- the moment of the call, not the start of its transaction; one for the whole statement
    moment timestamptz := clock_timestamp();
BEGIN
    PERFORM taskq._check_outcomes(fail_many.failures, 'fail_many',
                                  ARRAY['task_id', 'lease_token', 'error'],
                                  ARRAY['task_id', 'lease_token', 'error', 'retry_delay']);
    IF jsonb_array_length(fail_many.failures) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg((e.item ->> 'task_id')::uuid ORDER BY e.ordinal),
           array_agg((e.item ->> 'lease_token')::uuid ORDER BY e.ordinal),
           array_agg(e.item ->> 'error' ORDER BY e.ordinal),
           array_agg((e.item ->> 'retry_delay')::interval ORDER BY e.ordinal)
    INTO task_ids, lease_tokens, errors, retry_delays
    FROM jsonb_array_elements(fail_many.failures) WITH ORDINALITY AS e (item, ordinal);
    PERFORM taskq._check_delays(moment, retry_delays, 'fail_many: item #%1$s: retry_delay', 'failures[%2$s].retry_delay');
    RETURN QUERY
    SELECT * FROM taskq._fail('fail_many', task_ids, lease_tokens, errors, retry_delays, moment,
        'only a RUNNING task can be failed, with the lease_token of its current claim (fail_many changed nothing)',
        'failures', NULL);
END;
$$;

DROP FUNCTION taskq._settle_many(text, uuid[], taskq.tasks[], text);

COMMIT;
