-- Deploy taskq:queue_timeout to pg
-- requires: task_options
--
-- A queue's default timeout: how long one attempt of its tasks that have no timeout of their
-- own (taskq.tasks.timeout NULL) may run before the worker cancels its handler and fails the
-- attempt ("timed out after 30s"), which then retries as any failure does. The task's own
-- timeout wins; NULL for both: no timeout. taskq.claim hands the worker the timeout in force.
--   taskq.queues.default_timeout  NULL: none (every queue's, until set).
--   taskq._check_timeout(timeout, field) returns the timeout: NULL, or more than 0 and at most
--       1 year; 22023 with COLUMN = field for anything else (an infinite one too).
--   taskq.set_default_timeout(queue, timeout, reason) returns taskq.queues: sets it (NULL: none),
--       creating the queue if new; one audit row (set_default_timeout, {"timeout"} before and
--       after, as interval text). 22023 for a bad timeout or queue name; 22001 for a reason over
--       1000 characters. For taskq_admin.
BEGIN;

SET LOCAL ROLE taskq_owner;

ALTER TABLE taskq.queues
    ADD COLUMN default_timeout interval
        CONSTRAINT queues_default_timeout_positive CHECK (default_timeout > interval '0');

COMMENT ON COLUMN taskq.queues.default_timeout IS
    'How long one attempt of a task of the queue without a timeout of its own may run; NULL: no timeout.';

CREATE FUNCTION taskq._check_timeout(timeout interval, field text)
RETURNS interval
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    -- NOT (x > 0 AND x <= 1 year) also refuses 'infinity' and '-infinity' (PostgreSQL 17+)
    IF _check_timeout.timeout IS NOT NULL
       AND NOT (_check_timeout.timeout > interval '0' AND _check_timeout.timeout <= interval '1 year') THEN
        RAISE EXCEPTION '% must be more than 0 and at most 1 year (or NULL for none), not %', _check_timeout.field,
                _check_timeout.timeout
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _check_timeout.field;
    END IF;
    RETURN _check_timeout.timeout;
END;
$$;

COMMENT ON FUNCTION taskq._check_timeout(interval, text) IS
    'Internal: a timeout as given (more than 0, at most 1 year, or NULL = none); 22023 with COLUMN = field for any other.';

CREATE FUNCTION taskq.set_default_timeout(queue text, timeout interval, reason text DEFAULT NULL)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    before interval;
    changed taskq.queues;
BEGIN
    PERFORM taskq._check_timeout(set_default_timeout.timeout, 'timeout');
    PERFORM taskq._ensure_queue(set_default_timeout.queue);
    SELECT q.default_timeout INTO before FROM taskq.queues q WHERE q.name = set_default_timeout.queue FOR NO KEY UPDATE;
    UPDATE taskq.queues q SET default_timeout = set_default_timeout.timeout
    WHERE q.name = set_default_timeout.queue
    RETURNING q.* INTO changed;
    PERFORM taskq._audit('set_default_timeout', NULL, changed.name, jsonb_build_object('timeout', before),
                         jsonb_build_object('timeout', changed.default_timeout), set_default_timeout.reason);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.set_default_timeout(text, interval, text) IS
    'For taskq_admin. Sets how long one attempt of the queue''s tasks that have no timeout of their own may run (more than 0, at most 1 year; NULL: none); creates the queue if new; one audit row (set_default_timeout) with the reason. Claims hand the timeout in force to the worker: tasks already running keep the one they were claimed with. 22023 for a bad timeout or queue name; 22001 for a reason over 1000 characters.';

GRANT EXECUTE ON FUNCTION taskq.set_default_timeout(text, interval, text) TO taskq_admin;

COMMIT;
