-- Deploy taskq:outcomes to pg (reworked after v0.2.0)
-- requires: outcomes@v0.2.0, queues
--
-- One body per outcome, for one task and for a batch, so that complete, complete_many (both
-- forms), fail and fail_many (both forms) settle a task by the same statement:
--   taskq._complete(call, task_ids, lease_tokens, results, rule, ids_field, tokens_field, rows)
--       RUNNING -> COMPLETED for every task_ids[i] whose lease_token is lease_tokens[i], with
--       results[i] (results NULL: every result NULL). Returns the tasks in input order when rows,
--       else nothing.
--   taskq._fail(call, task_ids, lease_tokens, errors, retry_delays, now, rule, ids_field,
--       tokens_field) what fail() does, to each task i: QUEUED after retry_delays[i] (NULL:
--       taskq.backoff(attempts)) while attempts remain, else FAILED, or CANCELLED when
--       cancellation was asked; errors[i] is kept in the task's errors. Returns the tasks in input
--       order.
--   Both are one UPDATE matched by position (t.id = ANY (task_ids) and lease_token =
--   lease_tokens[array_position(task_ids, t.id)]: joining unnest() instead was planned as a
--   nested loop over every RUNNING row), all or nothing by count. Only when fewer tasks were
--   settled than listed is the reason worked out (taskq._settled): 22004 a NULL id or token
--   (COLUMN ids_field[i] / tokens_field[i]), 22023 a task listed twice (COLUMN ids_field), else
--   P0002 / 55000 for the first task of the input not settled (taskq._refuse); the single forms
--   pass no fields and so go straight to _refuse, as before.
--   taskq._release_slots(queues, slots) frees the slots of a batch in one UPDATE, with one NOTIFY
--       per slot-limited queue.
--   taskq._check_delays(now, delays, what, field) raises 22023 / 22008 for the first retry delay
--       that is negative or ends after 9999 (what and field are format() patterns of the
--       position: %1$s counted from 1, %2$s from 0).
--   taskq.complete and taskq.fail keep their signatures, checks and errors. A completion on an
--   unlimited queue no longer notifies (it frees nothing a claim waits for); a failure that
--   sends a task of an unlimited queue back to QUEUED still does.
BEGIN;

CREATE FUNCTION taskq._release_slots(queues text[], slots bigint[])
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    freed record;
BEGIN
    -- Slot rows first, in id order, then the queue rows: the lock order of set_concurrency, so a
    -- batch never deadlocks with it. The queue rows are read, not locked: only set_concurrency
    -- raises excess, and it must lock every slot row of the queue first, ours among them.
    PERFORM 1 FROM taskq.slots s WHERE s.id = ANY (_release_slots.slots) ORDER BY s.id FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM taskq.queues q WHERE q.name = ANY (_release_slots.queues) AND q.excess > 0) THEN
        UPDATE taskq.slots s SET task_id = NULL WHERE s.id = ANY (_release_slots.slots);
        PERFORM pg_notify('taskq', q.queue) FROM (SELECT DISTINCT u.queue FROM unnest(_release_slots.queues) AS u (queue)) q;
        RETURN;
    END IF;
    -- While a queue of the batch has excess slots to drop, slot by slot: _release_slot drops or
    -- frees each under the queue row's lock.
    FOR freed IN
        SELECT u.queue, u.slot FROM unnest(_release_slots.queues, _release_slots.slots) AS u (queue, slot) ORDER BY u.slot
    LOOP
        PERFORM taskq._release_slot(freed.queue, freed.slot);
    END LOOP;
END;
$$;

COMMENT ON FUNCTION taskq._release_slots(text[], bigint[]) IS
    'Internal: frees the slots (slots[i] of queue queues[i]) in one UPDATE with one NOTIFY per queue; slot by slot (taskq._release_slot) while one of the queues has excess slots to drop.';

CREATE FUNCTION taskq._settled(call text, task_ids uuid[], lease_tokens uuid[], settled uuid[], queues text[],
                               slots bigint[], rule text, ids_field text, tokens_field text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    problem record;
BEGIN
    IF coalesce(cardinality(_settled.settled), 0) = cardinality(_settled.task_ids) THEN
        IF _settled.slots IS NOT NULL THEN
            PERFORM taskq._release_slots(_settled.queues, _settled.slots);
        END IF;
        RETURN;
    END IF;
    -- fewer settled than listed: the UPDATE is undone by the error raised below, worked out here
    IF _settled.ids_field IS NOT NULL THEN
        SELECT i.ordinal, i.id, count(*) OVER (PARTITION BY i.id) AS listed INTO problem
        FROM unnest(_settled.task_ids) WITH ORDINALITY AS i (id, ordinal)
        ORDER BY (i.id IS NULL) DESC, count(*) OVER (PARTITION BY i.id) DESC, i.ordinal
        LIMIT 1;
        IF problem.id IS NULL THEN
            RAISE EXCEPTION '%: %[%] must not be NULL', _settled.call, _settled.ids_field, problem.ordinal
                USING ERRCODE = 'null_value_not_allowed',
                      COLUMN = format('%s[%s]', _settled.ids_field, problem.ordinal);
        ELSIF problem.listed > 1 THEN
            RAISE EXCEPTION '%: task % is listed more than once', _settled.call, problem.id
                USING ERRCODE = 'invalid_parameter_value', COLUMN = _settled.ids_field,
                      HINT = 'a call settles each task once';
        END IF;
    END IF;
    IF _settled.tokens_field IS NOT NULL THEN
        SELECT l.ordinal INTO problem
        FROM unnest(_settled.lease_tokens) WITH ORDINALITY AS l (token, ordinal)
        WHERE l.token IS NULL
        ORDER BY l.ordinal
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION '%: %[%] must not be NULL', _settled.call, _settled.tokens_field, problem.ordinal
                USING ERRCODE = 'null_value_not_allowed',
                      COLUMN = format('%s[%s]', _settled.tokens_field, problem.ordinal);
        END IF;
    END IF;
    -- the first task of the input that the call could not settle: _refuse says why
    PERFORM taskq._refuse(i.id, _settled.rule)
    FROM unnest(_settled.task_ids) WITH ORDINALITY AS i (id, ordinal)
    WHERE i.id IS NULL OR i.id <> ALL (coalesce(_settled.settled, '{}'))
    ORDER BY i.ordinal
    LIMIT 1;
    RAISE EXCEPTION '%: % tasks were settled of %', _settled.call, cardinality(_settled.settled),
            cardinality(_settled.task_ids)
        USING ERRCODE = 'internal_error', TABLE = 'tasks';
END;
$$;

COMMENT ON FUNCTION taskq._settled(text, uuid[], uuid[], uuid[], text[], bigint[], text, text, text) IS
    'Internal: after the UPDATE of a batch, frees the slots (slots[i] of queues[i]) when every task was settled; else raises why fewer were: 22004 a NULL id or token, 22023 a task listed twice (when the fields are given), else P0002 / 55000 for the first task not settled (taskq._refuse).';

CREATE FUNCTION taskq._complete(call text, task_ids uuid[], lease_tokens uuid[], results jsonb[], rule text,
                                ids_field text, tokens_field text, rows boolean)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    settled uuid[];
    queues text[];
    slots bigint[];
    done taskq.tasks[];
    -- the moment of the call, not the start of its transaction
    moment timestamptz := clock_timestamp();
BEGIN
    WITH done AS (
        UPDATE taskq.tasks t
        SET status = 'COMPLETED',
            finished_at = moment,
            result = _complete.results[array_position(_complete.task_ids, t.id)],
            lease_token = NULL,
            lease_expires_at = NULL
        WHERE t.id = ANY (_complete.task_ids) AND t.status = 'RUNNING'
          AND t.lease_token = _complete.lease_tokens[array_position(_complete.task_ids, t.id)]
        -- the whole row only for the callers that return it
        RETURNING t.id, t.queue, t.slot, CASE WHEN _complete.rows THEN t END AS task
    )
    SELECT array_agg(d.id),
           array_agg(d.queue) FILTER (WHERE d.slot IS NOT NULL),
           array_agg(d.slot) FILTER (WHERE d.slot IS NOT NULL),
           array_agg(d.task ORDER BY array_position(_complete.task_ids, d.id)) FILTER (WHERE _complete.rows)
    INTO settled, queues, slots, done
    FROM done d;
    PERFORM taskq._settled(_complete.call, _complete.task_ids, _complete.lease_tokens, settled, queues, slots,
                           _complete.rule, _complete.ids_field, _complete.tokens_field);
    IF _complete.rows THEN
        RETURN QUERY SELECT * FROM unnest(done);
    END IF;
END;
$$;

COMMENT ON FUNCTION taskq._complete(text, uuid[], uuid[], jsonb[], text, text, text, boolean) IS
    'Internal: the one body of complete and complete_many: RUNNING -> COMPLETED by position, all or nothing, frees the slots; returns the tasks in input order when rows.';

CREATE FUNCTION taskq._fail(call text, task_ids uuid[], lease_tokens uuid[], errors text[], retry_delays interval[],
                            now timestamptz, rule text, ids_field text, tokens_field text)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    settled uuid[];
    queues text[];
    slots bigint[];
    requeued text[];
    failed taskq.tasks[];
    moment timestamptz := _fail.now;
BEGIN
    WITH failed AS (
        UPDATE taskq.tasks t
        -- a sub-select, so that _after_attempt is worked out once per row
        SET (status, scheduled_at, finished_at) = (
                SELECT a.next,
                       CASE WHEN a.next = 'QUEUED'
                            THEN moment + coalesce(_fail.retry_delays[array_position(_fail.task_ids, t.id)],
                                                   taskq.backoff(t.attempts))
                            ELSE t.scheduled_at END,
                       CASE WHEN a.next = 'QUEUED' THEN NULL ELSE moment END
                FROM (SELECT taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) AS next) a),
            last_error = _fail.errors[array_position(_fail.task_ids, t.id)],
            errors = t.errors || jsonb_build_object('attempt', t.attempts, 'at', moment,
                                                    'error', _fail.errors[array_position(_fail.task_ids, t.id)]),
            lease_token = NULL,
            lease_expires_at = NULL
        WHERE t.id = ANY (_fail.task_ids) AND t.status = 'RUNNING'
          AND t.lease_token = _fail.lease_tokens[array_position(_fail.task_ids, t.id)]
        RETURNING t.*
    )
    SELECT array_agg(f.id),
           array_agg(f.queue) FILTER (WHERE f.slot IS NOT NULL),
           array_agg(f.slot) FILTER (WHERE f.slot IS NOT NULL),
           array_agg(DISTINCT f.queue) FILTER (WHERE f.slot IS NULL AND f.status = 'QUEUED'),
           array_agg(f ORDER BY array_position(_fail.task_ids, f.id))
    INTO settled, queues, slots, requeued, failed
    FROM failed f;
    PERFORM taskq._settled(_fail.call, _fail.task_ids, _fail.lease_tokens, settled, queues, slots,
                           _fail.rule, _fail.ids_field, _fail.tokens_field);
    -- a task of an unlimited queue that is QUEUED again: the workers learn when it is due
    PERFORM pg_notify('taskq', q.queue) FROM unnest(requeued) AS q (queue);
    RETURN QUERY SELECT * FROM unnest(failed);
END;
$$;

COMMENT ON FUNCTION taskq._fail(text, uuid[], uuid[], text[], interval[], timestamptz, text, text, text) IS
    'Internal: the one body of fail and fail_many: each task by position back to QUEUED (after its delay or taskq.backoff), FAILED or CANCELLED, all or nothing, frees the slots; returns the tasks in input order.';

CREATE FUNCTION taskq._check_delays(now timestamptz, delays interval[], what text, field text)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    negative record;
BEGIN
    SELECT d.ordinal, d.delay INTO negative
    FROM unnest(_check_delays.delays) WITH ORDINALITY AS d (delay, ordinal)
    WHERE d.delay < interval '0'
    ORDER BY d.ordinal
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% must not be negative, not %', format(_check_delays.what, negative.ordinal, negative.ordinal - 1),
                negative.delay
            USING ERRCODE = 'invalid_parameter_value',
                  COLUMN = format(_check_delays.field, negative.ordinal, negative.ordinal - 1);
    END IF;
    PERFORM taskq._check_until(_check_delays.now, d.delay, format(_check_delays.what, d.ordinal, d.ordinal - 1),
                               format(_check_delays.field, d.ordinal, d.ordinal - 1))
    FROM unnest(_check_delays.delays) WITH ORDINALITY AS d (delay, ordinal)
    WHERE d.delay IS NOT NULL;
END;
$$;

COMMENT ON FUNCTION taskq._check_delays(timestamptz, interval[], text, text) IS
    'Internal: 22023 for the first negative retry delay, 22008 for one that ends after 9999; what and field are format() patterns of its position (%1$s from 1, %2$s from 0).';

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
    SELECT * INTO done
    FROM taskq._complete('complete', ARRAY[complete.task_id], ARRAY[complete.lease_token], ARRAY[complete.result],
                         'only a RUNNING task can be completed, with the lease_token of its current claim',
                         NULL, NULL, true);
    RETURN done;
END;
$$;

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
    PERFORM taskq._check_delays(moment, ARRAY[fail.retry_delay], 'retry_delay', 'retry_delay');
    SELECT * INTO failed
    FROM taskq._fail('fail', ARRAY[fail.task_id], ARRAY[fail.lease_token], ARRAY[fail.error], ARRAY[fail.retry_delay],
                     moment, 'only a RUNNING task can be failed, with the lease_token of its current claim', NULL, NULL);
    RETURN failed;
END;
$$;

COMMIT;
