-- Deploy taskq:queues to pg (reworked after v0.3.0)
-- requires: queues@v0.3.0
-- requires: audit
--
-- set_concurrency, pause_queue and resume_queue take an optional reason and write one row of the
-- audit trail each (taskq._audit), in the transaction of the act; an act refused (22023, 22004)
-- writes none, an idempotent one (pause_queue of a paused queue) is recorded too. The values
-- recorded are those the act found with the queue's row locked; a queue the act creates shows
-- the defaults it was created with (concurrency 2, not paused). The reason parameter has a
-- default, so the old calls work unchanged; a function gets a new signature only by being
-- dropped and created.
--   taskq.set_concurrency(queue, concurrency, reason)  audit {"concurrency"} before and after.
--   taskq._set_paused(queue, paused, reason) pauses or resumes a queue: the one body of
--       taskq.pause_queue(queue, reason) and taskq.resume_queue(queue, reason), audit
--       {"paused"} before and after, action pause_queue or resume_queue.
-- Each raises 22001 for a reason over 1000 characters or a taskq.actor over 128.
BEGIN;

DROP FUNCTION taskq.set_concurrency(text, integer);
DROP FUNCTION taskq.pause_queue(text);
DROP FUNCTION taskq.resume_queue(text);

CREATE FUNCTION taskq.set_concurrency(queue text, concurrency integer, reason text DEFAULT NULL)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    busy integer;
    concurrency_before integer;
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
    SELECT q.concurrency INTO concurrency_before FROM taskq.queues q WHERE q.name = set_concurrency.queue FOR UPDATE;

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
    PERFORM taskq._audit('set_concurrency', NULL, changed.name, jsonb_build_object('concurrency', concurrency_before),
                         jsonb_build_object('concurrency', changed.concurrency), set_concurrency.reason);
    IF set_concurrency.concurrency IS NULL OR set_concurrency.concurrency > busy THEN
        PERFORM pg_notify('taskq', set_concurrency.queue);
    END IF;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.set_concurrency(text, integer, text) IS
    'Creates or changes a queue''s number of slots (>= 1; NULL = unlimited). Running tasks are never interrupted; after lowering, new claims wait until fewer than the new limit run. One audit row with the reason. 22023 unless 1 <= concurrency <= 10000; 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq._set_paused(queue text, paused boolean, reason text)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    paused_before boolean;
    changed taskq.queues;
BEGIN
    PERFORM taskq._ensure_queue(_set_paused.queue);
    SELECT q.paused INTO paused_before FROM taskq.queues q WHERE q.name = _set_paused.queue FOR NO KEY UPDATE;
    UPDATE taskq.queues q SET paused = _set_paused.paused WHERE q.name = _set_paused.queue RETURNING q.* INTO changed;
    PERFORM taskq._audit(CASE WHEN _set_paused.paused THEN 'pause_queue' ELSE 'resume_queue' END, NULL, changed.name,
                         jsonb_build_object('paused', paused_before), jsonb_build_object('paused', changed.paused),
                         _set_paused.reason);
    IF NOT _set_paused.paused THEN
        PERFORM pg_notify('taskq', _set_paused.queue);
    END IF;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq._set_paused(text, boolean, text) IS
    'Internal: the body of pause_queue and resume_queue: sets the queue''s paused flag (the queue created if new), writes its audit row, and NOTIFYs taskq on a resume.';

CREATE FUNCTION taskq.pause_queue(queue text, reason text DEFAULT NULL)
RETURNS taskq.queues
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT taskq._set_paused(pause_queue.queue, true, pause_queue.reason)
$$;

COMMENT ON FUNCTION taskq.pause_queue(text, text) IS
    'Stops claims from a queue (created if new); running tasks finish. Idempotent; one audit row with the reason. 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq.resume_queue(queue text, reason text DEFAULT NULL)
RETURNS taskq.queues
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT taskq._set_paused(resume_queue.queue, false, resume_queue.reason)
$$;

COMMENT ON FUNCTION taskq.resume_queue(text, text) IS
    'Lets claims take from a queue again (created if new). Idempotent; one audit row with the reason. 22001 reason over 1000 characters. For taskq_admin.';

COMMIT;
