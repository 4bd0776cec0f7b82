-- Revert taskq:queues from pg: back to v0.1.0's _ensure_queue, without the shared name rule.
BEGIN;

CREATE OR REPLACE FUNCTION taskq._ensure_queue(queue text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    slot_count integer;
BEGIN
    IF _ensure_queue.queue IS NULL OR _ensure_queue.queue = '' OR length(_ensure_queue.queue) > 128 THEN
        RAISE EXCEPTION 'queue name must be a non-empty text of at most 128 characters, not %',
                coalesce(quote_literal(_ensure_queue.queue), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
    'Internal: creates the queue (concurrency 2) with its slots if it does not exist. 22023 for an empty name.';

DROP FUNCTION taskq._check_name(text, text, text);
DROP FUNCTION taskq._name_problem(text, text, text);

COMMIT;
