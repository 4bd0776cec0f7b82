-- Revert taskq:control from pg: back to v0.1.0's cancel and retry, stamped with now().
BEGIN;

CREATE OR REPLACE FUNCTION taskq.cancel(task_id uuid)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    changed taskq.tasks;
BEGIN
    UPDATE taskq.tasks t
    SET status = CASE WHEN t.status = 'RUNNING' THEN t.status ELSE 'CANCELLED' END,
        cancel_requested = (t.status = 'RUNNING'),
        finished_at = CASE WHEN t.status = 'RUNNING' THEN t.finished_at ELSE coalesce(t.finished_at, now()) END
    WHERE t.id = cancel.task_id AND t.status IN ('QUEUED', 'PAUSED', 'RUNNING', 'CANCELLED')
    RETURNING t.* INTO changed;
    IF NOT FOUND THEN
        PERFORM taskq._refuse(cancel.task_id, 'only QUEUED, PAUSED or RUNNING tasks can be cancelled');
    END IF;
    IF changed.status = 'RUNNING' THEN
        PERFORM pg_notify('taskq_cancel', changed.worker_id::text);
    END IF;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.cancel(uuid) IS
    'QUEUED/PAUSED -> CANCELLED. RUNNING: asks for cancellation (the task stays RUNNING until its worker stops it, or its lease expires). P0002 unknown task; 55000 COMPLETED or FAILED.';

CREATE OR REPLACE FUNCTION taskq.retry(task_id uuid)
RETURNS taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    changed taskq.tasks;
BEGIN
    UPDATE taskq.tasks t
    SET status = 'QUEUED',
        scheduled_at = now(),
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
    PERFORM pg_notify('taskq', changed.queue);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.retry(uuid) IS
    'FAILED/CANCELLED -> QUEUED, due now, attempts from zero (the errors history is kept). P0002 unknown task; 55000 other statuses.';

COMMIT;
