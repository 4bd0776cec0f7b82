-- Deploy taskq:queues to pg (reworked after v0.1.0)
-- requires: queues@v0.1.0
--
-- One rule for the names of tasks and queues: a text of 1 to 128 characters that is not blank
-- (only spaces, tabs or line breaks). Before, a queue name of spaces was accepted and a task
-- name of spaces refused, and a task name had no length limit.
--   taskq._check_name(name, what, field, context) returns true for a good name; else raises 22004
--       for NULL, 22023 for a blank or too long one, the message starting with context and what,
--       COLUMN = field (the parameter: name, queue, or tasks[i].name in enqueue_many).
--   taskq._ensure_queue(queue) as before, with that rule: every function that takes a queue
--       name (enqueue, enqueue_many, set_concurrency, pause_queue, resume_queue) keeps it.
--   taskq.set_concurrency(queue, concurrency) as before, its 22023 with COLUMN = 'concurrency'.
BEGIN;

CREATE FUNCTION taskq._name_problem(name text, what text, field text, context text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF _name_problem.name IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', _name_problem.context || _name_problem.what
            USING ERRCODE = 'null_value_not_allowed', COLUMN = _name_problem.field;
    ELSIF length(_name_problem.name) > 128 THEN
        RAISE EXCEPTION '% must be at most 128 characters, not %', _name_problem.context || _name_problem.what,
                length(_name_problem.name)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _name_problem.field;
    END IF;
    RAISE EXCEPTION '% must not be empty or blank, not %', _name_problem.context || _name_problem.what,
            quote_literal(_name_problem.name)
        USING ERRCODE = 'invalid_parameter_value', COLUMN = _name_problem.field;
END;
$$;

COMMENT ON FUNCTION taskq._name_problem(text, text, text, text) IS
    'Internal: raises 22004 / 22023 naming what is wrong with a task or queue name; _check_name calls it only for a bad one.';

-- One SQL expression, so that the planner inlines it into enqueue_many's insert.
CREATE FUNCTION taskq._check_name(name text, what text, field text, context text DEFAULT '')
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN length(_check_name.name) <= 128 AND btrim(_check_name.name, E' \t\r\n') <> ''
                THEN true
                ELSE taskq._name_problem(_check_name.name, _check_name.what, _check_name.field, _check_name.context) END
$$;

COMMENT ON FUNCTION taskq._check_name(text, text, text, text) IS
    'Internal: the rule for task and queue names: 1 to 128 characters, not blank. True, or raises 22004 (NULL) / 22023 with COLUMN = field.';

CREATE OR REPLACE FUNCTION taskq._ensure_queue(queue text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    slot_count integer;
BEGIN
    PERFORM taskq._check_name(_ensure_queue.queue, 'queue name', 'queue');
    IF EXISTS (SELECT 1 FROM taskq.queues q WHERE q.name = _ensure_queue.queue) THEN
        RETURN;
    END IF;
    INSERT INTO taskq.queues AS q (name) VALUES (_ensure_queue.queue)
    ON CONFLICT DO NOTHING
    RETURNING q.concurrency INTO slot_count;
    IF FOUND THEN
        INSERT INTO taskq.slots (queue) SELECT _ensure_queue.queue FROM generate_series(1, slot_count);
    END IF;
END;
$$;

COMMENT ON FUNCTION taskq._ensure_queue(text) IS
    'Internal: creates the queue (concurrency 2) with its slots if it does not exist. 22004 / 22023 for a name that breaks the rule of _check_name.';

CREATE OR REPLACE FUNCTION taskq.set_concurrency(queue text, concurrency integer)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    busy integer;
    changed taskq.queues;
BEGIN
    IF set_concurrency.concurrency < 1 OR set_concurrency.concurrency > 10000 THEN
        RAISE EXCEPTION 'concurrency must be between 1 and 10000 (or NULL for unlimited), not %',
                set_concurrency.concurrency
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'concurrency';
    END IF;
    PERFORM taskq._ensure_queue(set_concurrency.queue);
    PERFORM pg_advisory_xact_lock(taskq._claim_lock_key(), 1);
    PERFORM 1 FROM taskq.slots s WHERE s.queue = set_concurrency.queue ORDER BY s.id FOR UPDATE;
    PERFORM 1 FROM taskq.queues q WHERE q.name = set_concurrency.queue FOR UPDATE;

    DELETE FROM taskq.slots s WHERE s.queue = set_concurrency.queue AND s.task_id IS NULL;
    -- Tasks that started while the queue was unlimited hold no slot: give them one now, so
    -- they count against the new limit.
    WITH adopted AS (
        UPDATE taskq.tasks t SET slot = nextval(pg_get_serial_sequence('taskq.slots', 'id'))
        WHERE t.queue = set_concurrency.queue AND t.status = 'RUNNING' AND t.slot IS NULL
        RETURNING t.id, t.slot
    )
    INSERT INTO taskq.slots (id, queue, task_id)
    SELECT a.slot, set_concurrency.queue, a.id FROM adopted a;

    SELECT count(*) INTO busy FROM taskq.slots s WHERE s.queue = set_concurrency.queue;
    INSERT INTO taskq.slots (queue)
    SELECT set_concurrency.queue FROM generate_series(1, set_concurrency.concurrency - busy);

    UPDATE taskq.queues q
    SET concurrency = set_concurrency.concurrency,
        excess = CASE WHEN set_concurrency.concurrency IS NULL THEN busy
                      ELSE greatest(busy - set_concurrency.concurrency, 0) END
    WHERE q.name = set_concurrency.queue
    RETURNING q.* INTO changed;
    IF set_concurrency.concurrency IS NULL OR set_concurrency.concurrency > busy THEN
        PERFORM pg_notify('taskq', set_concurrency.queue);
    END IF;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.set_concurrency(text, integer) IS
    'Creates or changes a queue''s number of slots (>= 1; NULL = unlimited). Running tasks are never interrupted; after lowering, new claims wait until fewer than the new limit run. 22023 unless 1 <= concurrency <= 10000.';

COMMIT;
