-- Deploy taskq:held_tasks to pg
-- requires: workers
--
-- The tasks a worker holds, read by the database rather than by paging through every RUNNING
-- task: a worker whose claim committed while its connection died asks which tasks are its own.
--   taskq.held_tasks(worker_id) returns SETOF taskq.tasks: the worker's RUNNING tasks, oldest
--       first (by id), with their lease tokens; none when it holds nothing.
--       P0002 for an unknown worker, as heartbeat: a worker that asks after its row vanished
--       registers again.
BEGIN;

CREATE FUNCTION taskq.held_tasks(worker_id uuid)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM taskq.workers w WHERE w.id = held_tasks.worker_id) THEN
        RAISE EXCEPTION 'worker % is not registered', held_tasks.worker_id
            USING ERRCODE = 'no_data_found', TABLE = 'workers',
                  DETAIL = jsonb_build_object('worker_id', held_tasks.worker_id)::text,
                  HINT = 'register it again with taskq.register_worker()';
    END IF;
    -- tasks_running_by_worker: the index heartbeat uses
    RETURN QUERY
    SELECT t.* FROM taskq.tasks t
    WHERE t.worker_id = held_tasks.worker_id AND t.status = 'RUNNING'
    ORDER BY t.id;
END;
$$;

COMMENT ON FUNCTION taskq.held_tasks(uuid) IS
    'The RUNNING tasks of a worker, oldest first, with their lease tokens (a claim whose answer was lost shows here). P0002 for an unknown worker.';

COMMIT;
