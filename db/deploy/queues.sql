-- Deploy taskq:queues to pg (reworked after v0.1.0)
-- requires: queues@v0.1.0
--
-- One rule for the names of tasks and queues: a text of 1 to 128 characters that is not blank
-- (only spaces, tabs or line breaks). Before, a queue name of spaces was accepted and a task
-- name of spaces refused, and a task name had no length limit.
--   taskq._check_name(name, what, context) returns true for a good name; else raises 22004 for
--       NULL, 22023 for a blank or too long one, the message starting with context and what.
--   taskq._ensure_queue(queue) as before, with that rule: every function that takes a queue
--       name (enqueue, enqueue_many, set_concurrency, pause_queue, resume_queue) keeps it.
BEGIN;

CREATE FUNCTION taskq._name_problem(name text, what text, context text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF _name_problem.name IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', _name_problem.context || _name_problem.what
            USING ERRCODE = 'null_value_not_allowed';
    ELSIF length(_name_problem.name) > 128 THEN
        RAISE EXCEPTION '% must be at most 128 characters, not %', _name_problem.context || _name_problem.what,
                length(_name_problem.name)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RAISE EXCEPTION '% must not be empty or blank, not %', _name_problem.context || _name_problem.what,
            quote_literal(_name_problem.name)
        USING ERRCODE = 'invalid_parameter_value';
END;
$$;

COMMENT ON FUNCTION taskq._name_problem(text, text, text) IS
    'Internal: raises 22004 / 22023 naming what is wrong with a task or queue name; _check_name calls it only for a bad one.';

-- One SQL expression, so that the planner inlines it into enqueue_many's insert.
CREATE FUNCTION taskq._check_name(name text, what text, context text DEFAULT '')
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN length(_check_name.name) <= 128 AND btrim(_check_name.name, E' \t\r\n') <> ''
                THEN true
                ELSE taskq._name_problem(_check_name.name, _check_name.what, _check_name.context) END
$$;

COMMENT ON FUNCTION taskq._check_name(text, text, text) IS
    'Internal: the rule for task and queue names: 1 to 128 characters, not blank. True, or raises 22004 (NULL) / 22023.';

CREATE OR REPLACE FUNCTION taskq._ensure_queue(queue text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    slot_count integer;
BEGIN
    PERFORM taskq._check_name(_ensure_queue.queue, 'queue name');
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

COMMIT;
