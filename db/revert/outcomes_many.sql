-- Revert taskq:outcomes_many from pg: back to v0.2.0's complete_many and fail_many, with
-- taskq._settle_many; the array forms go.
BEGIN;

DROP FUNCTION taskq.fail_many(uuid[], uuid[], text[], interval[]);
DROP FUNCTION taskq.complete_many(uuid[], uuid[], jsonb[]);
DROP FUNCTION taskq._check_list(text, text, anyarray, integer);

CREATE FUNCTION taskq._settle_many(call text, task_ids uuid[], settled taskq.tasks[], rule text)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    unsettled uuid;
    freed record;
BEGIN
    IF cardinality(_settle_many.settled) < cardinality(_settle_many.task_ids) THEN
        -- the first task of the input that this call could not settle: _refuse says why
        SELECT i.id INTO unsettled
        FROM unnest(_settle_many.task_ids) WITH ORDINALITY AS i (id, ordinal)
        WHERE i.id <> ALL (SELECT s.id FROM unnest(_settle_many.settled) AS s)
        ORDER BY i.ordinal
        LIMIT 1;
        PERFORM taskq._refuse(unsettled, _settle_many.rule);
    END IF;
    -- Slot rows first, in id order, then (inside _release_slot) the queue row: the lock order
    -- every other function follows, so a batch never deadlocks with set_concurrency.
    PERFORM 1 FROM taskq.slots s
    WHERE s.id IN (SELECT t.slot FROM unnest(_settle_many.settled) AS t WHERE t.slot IS NOT NULL)
    ORDER BY s.id
    FOR UPDATE;
    FOR freed IN
        SELECT t.queue, t.slot FROM unnest(_settle_many.settled) AS t WHERE t.slot IS NOT NULL ORDER BY t.slot
    LOOP
        PERFORM taskq._release_slot(freed.queue, freed.slot);
    END LOOP;
    -- Tasks of unlimited queues hold no slot: one notification per queue, not one per task.
    PERFORM pg_notify('taskq', q.queue)
    FROM (SELECT DISTINCT t.queue FROM unnest(_settle_many.settled) AS t WHERE t.slot IS NULL) AS q;
    RETURN QUERY
    SELECT s.* FROM unnest(_settle_many.settled) AS s
    JOIN unnest(_settle_many.task_ids) WITH ORDINALITY AS i (id, ordinal) ON i.id = s.id
    ORDER BY i.ordinal;
END;
$$;

COMMENT ON FUNCTION taskq._settle_many(text, uuid[], taskq.tasks[], text) IS
    'Internal: after a batch update, refuses (P0002/55000) when a task was not settled, else frees the slots and returns the tasks in input order.';

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
