-- Revert taskq:tasks from pg: back to v0.1.0's _refuse and get_task, whose errors name the task
-- in the message only.
BEGIN;

CREATE OR REPLACE FUNCTION taskq._refuse(task_id uuid, rule text)
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

CREATE OR REPLACE FUNCTION taskq.get_task(task_id uuid)
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
