-- Deploy taskq:tasks
-- requires: types, uuid_v7
--
-- The table of tasks, its indexes, and the two helpers every transition shares:
--   taskq._refuse(task_id, rule)  raises P0002 when the task does not exist, else 55000 naming
--                                 the task, its status and the rule it broke. Returns nothing.
--   taskq.get_task(task_id)       returns one task; raises P0002 when there is none.
--   taskq._after_attempt(cancel_requested, attempts, max_attempts) returns the status a task
--                                 goes to when an attempt ends without success (fail, an
--                                 expired lease): CANCELLED when asked, QUEUED while attempts
--                                 remain, else FAILED.
BEGIN;

CREATE TABLE taskq.tasks (
    id               uuid           PRIMARY KEY DEFAULT taskq.uuid_v7(),
    queue            text           NOT NULL,
    name             text           NOT NULL CONSTRAINT tasks_name_not_empty CHECK (name <> ''),
    payload          jsonb          NOT NULL DEFAULT '{}',
    priority         taskq.priority NOT NULL DEFAULT 'MEDIUM',
    status           taskq.status   NOT NULL DEFAULT 'QUEUED',
    scheduled_at     timestamptz    NOT NULL DEFAULT now(),
    created_at       timestamptz    NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    attempts         integer        NOT NULL DEFAULT 0,
    max_attempts     integer        NOT NULL DEFAULT 3 CONSTRAINT tasks_max_attempts_positive CHECK (max_attempts >= 1),
    last_error       text,
    -- every failure, oldest first: {"attempt": n, "at": timestamptz, "error": text}
    errors           jsonb          NOT NULL DEFAULT '[]',
    result           jsonb,
    worker_id        uuid,
    lease_token      uuid,
    lease_expires_at timestamptz,
    cancel_requested boolean        NOT NULL DEFAULT false,
    -- the concurrency slot (taskq.slots.id) the task holds while RUNNING; NULL on unlimited queues
    slot             bigint
) WITH (fillfactor = 90);

COMMENT ON TABLE taskq.tasks IS 'Private: use the taskq.* functions and the taskq.task_info view.';

-- The claim reads only this partial index: its cost does not grow with the finished tasks kept.
CREATE INDEX tasks_claimable ON taskq.tasks (queue, priority DESC, scheduled_at, id)
    WHERE status = 'QUEUED';
-- next_due(): the next scheduled task, read in time order.
CREATE INDEX tasks_scheduled ON taskq.tasks (scheduled_at) WHERE status = 'QUEUED';
-- rescue_expired() and heartbeat() look only at RUNNING tasks.
CREATE INDEX tasks_leases ON taskq.tasks (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX tasks_running_by_worker ON taskq.tasks (worker_id) WHERE status = 'RUNNING';
-- Keyset pages of the task list, by status.
CREATE INDEX tasks_status_id ON taskq.tasks (status, id);

CREATE FUNCTION taskq._refuse(task_id uuid, rule text)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    current taskq.status;
BEGIN
    SELECT t.status INTO current FROM taskq.tasks t WHERE t.id = _refuse.task_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % does not exist', _refuse.task_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RAISE EXCEPTION 'task % is %; %', _refuse.task_id, current, _refuse.rule
        USING ERRCODE = 'object_not_in_prerequisite_state';
END;
$$;

COMMENT ON FUNCTION taskq._refuse(uuid, text) IS
    'Internal: raises P0002 when the task does not exist, else 55000 with its status and the rule it broke.';

CREATE FUNCTION taskq._after_attempt(cancel_requested boolean, attempts integer, max_attempts integer)
RETURNS taskq.status
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN _after_attempt.cancel_requested THEN 'CANCELLED'::taskq.status
                WHEN _after_attempt.attempts < _after_attempt.max_attempts THEN 'QUEUED'
                ELSE 'FAILED' END
$$;

COMMENT ON FUNCTION taskq._after_attempt(boolean, integer, integer) IS
    'Internal: where a task goes when an attempt ends without success: CANCELLED when asked, QUEUED while attempts remain, else FAILED.';

CREATE FUNCTION taskq.get_task(task_id uuid)
RETURNS taskq.tasks
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    found_task taskq.tasks;
BEGIN
    SELECT t.* INTO found_task FROM taskq.tasks t WHERE t.id = get_task.task_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % does not exist', get_task.task_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN found_task;
END;
$$;

COMMENT ON FUNCTION taskq.get_task(uuid) IS 'One task by id. Raises P0002 when there is none.';

COMMIT;
