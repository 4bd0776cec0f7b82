-- Revert taskq:queues from pg: back to v0.3.0's set_concurrency, pause_queue and resume_queue,
-- without the reason parameter and the audit row.
BEGIN;

DROP FUNCTION taskq.set_concurrency(text, integer, text);
DROP FUNCTION taskq.pause_queue(text, text);
DROP FUNCTION taskq.resume_queue(text, text);
DROP FUNCTION taskq._set_paused(text, boolean, text);

CREATE FUNCTION taskq.set_concurrency(queue text, concurrency integer)
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

CREATE FUNCTION taskq.pause_queue(queue text)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    changed taskq.queues;
BEGIN
    PERFORM taskq._ensure_queue(pause_queue.queue);
    UPDATE taskq.queues q SET paused = true WHERE q.name = pause_queue.queue RETURNING q.* INTO changed;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.pause_queue(text) IS
    'Stops claims from a queue (created if new); running tasks finish. Idempotent.';

CREATE FUNCTION taskq.resume_queue(queue text)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    changed taskq.queues;
BEGIN
    PERFORM taskq._ensure_queue(resume_queue.queue);
    UPDATE taskq.queues q SET paused = false WHERE q.name = resume_queue.queue RETURNING q.* INTO changed;
    PERFORM pg_notify('taskq', resume_queue.queue);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.resume_queue(text) IS
    'Lets claims take from a queue again (created if new). Idempotent.';

COMMIT;
