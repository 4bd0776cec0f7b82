-- Deploy taskq:control to pg (reworked after v0.3.0)
-- requires: control@v0.3.0
-- requires: audit
--
-- pause, resume, cancel and retry take an optional reason and write one row of the audit trail
-- each (taskq._audit), in the transaction of the act; a refused act (P0002, 55000) writes none.
-- The act is as before; an idempotent one (pause of a PAUSED task) is recorded too. Each reads
-- the task's row locked (FOR NO KEY UPDATE, the lock its UPDATE takes anyway) to record what it
-- found. The reason parameter has a default, so the old calls (cancel(task_id), cancel(task_id
-- => ...)) work unchanged; a function gets a new signature only by being dropped and created.
--   taskq.pause(task_id, reason)  audit {"status"} before and after.
--   taskq.resume(task_id, reason) audit {"status"} before and after.
--   taskq.cancel(task_id, reason) audit {"status", "cancel_requested"} before and after.
--   taskq.retry(task_id, reason)  audit {"status", "attempts"} before and after.
-- Each raises 22001 for a reason over 1000 characters or a taskq.actor over 128.
BEGIN;

DROP FUNCTION taskq.pause(uuid);
DROP FUNCTION taskq.resume(uuid);
DROP FUNCTION taskq.cancel(uuid);
DROP FUNCTION taskq.retry(uuid);

CREATE FUNCTION taskq.pause(task_id uuid, reason text DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    was taskq.tasks;
    changed taskq.tasks;
BEGIN
    SELECT t.* INTO was FROM taskq.tasks t WHERE t.id = pause.task_id FOR NO KEY UPDATE;
    UPDATE taskq.tasks t SET status = 'PAUSED'
    WHERE t.id = pause.task_id AND t.status IN ('QUEUED', 'PAUSED')
    RETURNING t.* INTO changed;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(pause.task_id, 'only QUEUED or PAUSED tasks can be paused');
    END IF;
    PERFORM taskq._audit('pause', changed.id, changed.queue, jsonb_build_object('status', was.status),
                         jsonb_build_object('status', changed.status), pause.reason);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.pause(uuid, text) IS
    'QUEUED -> PAUSED (PAUSED stays PAUSED); one audit row with the reason. P0002 unknown task; 55000 other statuses; 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq.resume(task_id uuid, reason text DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    was taskq.tasks;
    changed taskq.tasks;
BEGIN
    SELECT t.* INTO was FROM taskq.tasks t WHERE t.id = resume.task_id FOR NO KEY UPDATE;
    UPDATE taskq.tasks t SET status = 'QUEUED'
    WHERE t.id = resume.task_id AND t.status IN ('PAUSED', 'QUEUED')
    RETURNING t.* INTO changed;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(resume.task_id, 'only PAUSED or QUEUED tasks can be resumed');
    END IF;
    PERFORM taskq._audit('resume', changed.id, changed.queue, jsonb_build_object('status', was.status),
                         jsonb_build_object('status', changed.status), resume.reason);
    PERFORM pg_notify('taskq', changed.queue);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.resume(uuid, text) IS
    'PAUSED -> QUEUED, keeping its priority and scheduled_at (QUEUED stays QUEUED); one audit row with the reason. P0002 unknown task; 55000 other statuses; 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq.cancel(task_id uuid, reason text DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    was taskq.tasks;
    changed taskq.tasks;
BEGIN
    SELECT t.* INTO was FROM taskq.tasks t WHERE t.id = cancel.task_id FOR NO KEY UPDATE;
    UPDATE taskq.tasks t
    SET status = CASE WHEN t.status = 'RUNNING' THEN t.status ELSE 'CANCELLED' END,
        cancel_requested = (t.status = 'RUNNING'),
        finished_at = CASE WHEN t.status = 'RUNNING' THEN t.finished_at ELSE coalesce(t.finished_at, clock_timestamp()) END
    WHERE t.id = cancel.task_id AND t.status IN ('QUEUED', 'PAUSED', 'RUNNING', 'CANCELLED')
    RETURNING t.* INTO changed;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(cancel.task_id, 'only QUEUED, PAUSED or RUNNING tasks can be cancelled');
    END IF;
    PERFORM taskq._audit('cancel', changed.id, changed.queue,
                         jsonb_build_object('status', was.status, 'cancel_requested', was.cancel_requested),
                         jsonb_build_object('status', changed.status, 'cancel_requested', changed.cancel_requested),
                         cancel.reason);
    IF changed.status = 'RUNNING' THEN
        PERFORM pg_notify('taskq_cancel', changed.worker_id::text);
    END IF;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.cancel(uuid, text) IS
    'QUEUED/PAUSED -> CANCELLED, finished at the moment of the call. RUNNING: asks for cancellation (the task stays RUNNING until its worker stops it, or its lease expires). One audit row with the reason. P0002 unknown task; 55000 COMPLETED or FAILED; 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq.retry(task_id uuid, reason text DEFAULT NULL)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    was taskq.tasks;
    changed taskq.tasks;
BEGIN
    SELECT t.* INTO was FROM taskq.tasks t WHERE t.id = retry.task_id FOR NO KEY UPDATE;
    UPDATE taskq.tasks t
    SET status = 'QUEUED',
        scheduled_at = clock_timestamp(),
        attempts = 0,
        cancel_requested = false,
        started_at = NULL,
        finished_at = NULL,
        result = NULL
    WHERE t.id = retry.task_id AND t.status IN ('FAILED', 'CANCELLED')
    RETURNING t.* INTO changed;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(retry.task_id, 'only FAILED or CANCELLED tasks can be retried');
    END IF;
    PERFORM taskq._audit('retry', changed.id, changed.queue,
                         jsonb_build_object('status', was.status, 'attempts', was.attempts),
                         jsonb_build_object('status', changed.status, 'attempts', changed.attempts),
                         retry.reason);
    PERFORM pg_notify('taskq', changed.queue);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.retry(uuid, text) IS
    'FAILED/CANCELLED -> QUEUED, due from the moment of the call, attempts from zero (the errors history is kept); one audit row with the reason. P0002 unknown task; 55000 other statuses; 22001 reason over 1000 characters. For taskq_admin.';

COMMIT;
