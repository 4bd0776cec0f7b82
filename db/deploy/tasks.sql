-- Deploy taskq:tasks to pg (reworked after v0.1.0)
-- requires: tasks@v0.1.0
--
-- The errors about one task say which task in their fields, so that a caller in any language
-- reads them without parsing the message (which may be reworded):
--   taskq._refuse(task_id, rule) raises P0002 when the task does not exist, else 55000; both with
--       TABLE = 'tasks' and DETAIL the jsonb text {"task_id": "<uuid>"}, for 55000
--       {"status": "<its status>", "task_id": "<uuid>"}.
--   taskq.get_task(task_id) raises P0002 with the same fields.
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
            USING ERRCODE = 'no_data_found', TABLE = 'tasks',
                  DETAIL = jsonb_build_object('task_id', _refuse.task_id)::text;
    END IF;
    RAISE EXCEPTION 'task % is %; %', _refuse.task_id, current, _refuse.rule
        USING ERRCODE = 'object_not_in_prerequisite_state', TABLE = 'tasks',
              DETAIL = jsonb_build_object('task_id', _refuse.task_id, 'status', current)::text;
END;
$$;

COMMENT ON FUNCTION taskq._refuse(uuid, text) IS
    'Internal: raises P0002 when the task does not exist, else 55000 with its status and the rule it broke; TABLE = ''tasks'', DETAIL = {"task_id", "status"} as jsonb text.';

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
        RAISE EXCEPTION 'task % does not exist', get_task.task_id
            USING ERRCODE = 'no_data_found', TABLE = 'tasks',
                  DETAIL = jsonb_build_object('task_id', get_task.task_id)::text;
    END IF;
    RETURN found_task;
END;
$$;

COMMENT ON FUNCTION taskq.get_task(uuid) IS
    'One task by id. Raises P0002 when there is none (TABLE = ''tasks'', DETAIL = {"task_id"}).';

COMMIT;
