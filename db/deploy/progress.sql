-- Deploy taskq:progress to pg
-- requires: task_options
--
-- A running handler's progress: a small JSON value stored on its task (taskq.tasks.progress,
-- with progress_at the moment it was stored), written by the worker that holds the task's lease
-- and kept after the task finished (get_task, task_info and the REST task show it).
--   taskq.report_progress(task_id, lease_token, progress) returns progress_at: stores the value
--       on the RUNNING task held by that lease token; P0002 for an unknown task, 55000 when the
--       task is not RUNNING under that token (finished, rescued, claimed again: the worker
--       drops it). 22023 for a value over 8192 bytes of JSON text (as PostgreSQL writes it:
--       octet_length(progress::text)) or nested deeper than 64 levels; NULL clears it.
--   taskq.report_progress(task_ids, lease_tokens, progress) returns SETOF uuid: the array form,
--       matched by position, for a worker's batch; stores what it can and returns the ids it
--       stored (a task not RUNNING under its token is skipped); a bad value refuses the whole
--       call (22023 naming progress[i]); 22004/22023 for NULL or mismatched arrays.
-- There is no floor on how often: the worker coalesces the reports of a handler and writes at
-- most one value a task a second (the last value always), so a refusal here would lose it.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE FUNCTION taskq._check_progress(progress jsonb, field text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    size integer := octet_length(_check_progress.progress::text);
BEGIN
    IF size > 8192 THEN
        RAISE EXCEPTION '% must be at most 8192 bytes of JSON text, not %', _check_progress.field, size
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _check_progress.field;
    END IF;
    RETURN taskq._check_depth(_check_progress.progress, 'progress', _check_progress.field);
END;
$$;

COMMENT ON FUNCTION taskq._check_progress(jsonb, text) IS
    'Internal: true for a progress value of at most 8192 bytes of JSON text nested at most 64 levels (or NULL); else 22023 with COLUMN = field.';

CREATE FUNCTION taskq._store_progress(task_ids uuid[], lease_tokens uuid[], progress jsonb[])
RETURNS TABLE (id uuid, at timestamptz)
LANGUAGE sql
VOLATILE
AS $$
    UPDATE taskq.tasks t
    SET progress = r.value, progress_at = clock_timestamp()
    FROM unnest(_store_progress.task_ids, _store_progress.lease_tokens, _store_progress.progress) AS r (id, token, value)
    WHERE t.id = r.id AND t.status = 'RUNNING' AND t.lease_token = r.token
    RETURNING t.id, t.progress_at
$$;

COMMENT ON FUNCTION taskq._store_progress(uuid[], uuid[], jsonb[]) IS
    'Internal: the one body of both report_progress forms: stores each value (checked already) on its task if it is RUNNING under its lease token; the ids stored and when.';

CREATE FUNCTION taskq.report_progress(task_ids uuid[], lease_tokens uuid[], progress jsonb[])
RETURNS SETOF uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    PERFORM taskq._check_list('report_progress', 'task_ids', report_progress.task_ids,
                              cardinality(report_progress.task_ids));
    PERFORM taskq._check_list('report_progress', 'lease_tokens', report_progress.lease_tokens,
                              cardinality(report_progress.task_ids));
    PERFORM taskq._check_list('report_progress', 'progress', report_progress.progress,
                              cardinality(report_progress.task_ids));
    PERFORM taskq._check_progress(p.value, format('progress[%s]', p.ordinal))
    FROM unnest(report_progress.progress) WITH ORDINALITY AS p (value, ordinal);
    RETURN QUERY
    SELECT s.id FROM taskq._store_progress(report_progress.task_ids, report_progress.lease_tokens,
                                           report_progress.progress) s;
END;
$$;

COMMENT ON FUNCTION taskq.report_progress(uuid[], uuid[], jsonb[]) IS
    'For taskq_worker. Stores the progress values (matched by position) on the RUNNING tasks held by the lease tokens; returns the ids stored, skipping a task not RUNNING under its token. 22023 for a value over 8192 bytes of JSON text or nested deeper than 64 levels (COLUMN progress[i]), or arrays of different lengths; 22004 for a NULL array.';

CREATE FUNCTION taskq.report_progress(task_id uuid, lease_token uuid, progress jsonb)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    stored timestamptz;
BEGIN
    PERFORM taskq._check_progress(report_progress.progress, 'progress');
    SELECT s.at INTO stored
    FROM taskq._store_progress(ARRAY[report_progress.task_id], ARRAY[report_progress.lease_token],
                               ARRAY[report_progress.progress]) s;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(report_progress.task_id,
                              'only the worker holding a RUNNING task''s lease token can report its progress');
    END IF;
    RETURN stored;
END;
$$;

COMMENT ON FUNCTION taskq.report_progress(uuid, uuid, jsonb) IS
    'For taskq_worker. Stores a progress value (at most 8192 bytes of JSON text, 64 levels; NULL clears it) on the RUNNING task held by the lease token; returns progress_at. P0002 for an unknown task, 55000 when it is not RUNNING under that token, 22023 for a value too large or too deep.';

GRANT EXECUTE ON FUNCTION taskq.report_progress(uuid, uuid, jsonb), taskq.report_progress(uuid[], uuid[], jsonb[])
    TO taskq_worker;

COMMIT;
