-- Deploy taskq:workers to pg (reworked after v0.1.0)
-- requires: workers@v0.1.0
--
-- A worker says which task names it has handlers for, so that a person can see the tasks that
-- no running worker will take (taskq.unhandled_tasks, queue_stats.unhandled).
--   taskq.workers.task_names: the names a worker handles; NULL = any name.
--   taskq.register_worker(name, queues, host, pid, task_names) returns the new worker's uuid
--       (UUIDv7); it replaces the 4-argument form, so calls by name or position keep working.
--       22023 for an empty name or a task_names array with a NULL or empty element.
BEGIN;

ALTER TABLE taskq.workers ADD COLUMN task_names text[];
COMMENT ON COLUMN taskq.workers.task_names IS 'the task names the worker has handlers for; NULL = any name';

DROP FUNCTION taskq.register_worker(text, text[], text, integer);

CREATE FUNCTION taskq.register_worker(
    name text,
    queues text[] DEFAULT NULL,
    host text DEFAULT NULL,
    pid integer DEFAULT NULL,
    task_names text[] DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    new_id uuid;
BEGIN
    IF register_worker.name IS NULL OR btrim(register_worker.name) = '' THEN
        RAISE EXCEPTION 'a worker needs a non-empty name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(register_worker.task_names) AS n (name)
               WHERE n.name IS NULL OR btrim(n.name) = '') THEN
        RAISE EXCEPTION 'task_names must not contain NULL or empty names'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'NULL instead of an array means any name';
    END IF;
    INSERT INTO taskq.workers AS w (name, queues, host, pid, task_names)
    VALUES (register_worker.name, register_worker.queues, register_worker.host, register_worker.pid,
            register_worker.task_names)
    RETURNING w.id INTO new_id;
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION taskq.register_worker(text, text[], text, integer, text[]) IS
    'Registers a worker with the task names it handles (NULL = any); returns its id for claim_next, heartbeat and unregister_worker. 22023 for an empty name or task name.';

COMMIT;
