-- Deploy taskq:workers to pg (reworked after v0.1.0)
-- requires: workers@v0.1.0, uuid_v7
--
-- A worker says which task names it has handlers for, so that a person can see the tasks that
-- no running worker will take (taskq.unhandled_tasks, queue_stats.unhandled).
--   taskq.workers.task_names: the names a worker handles; NULL = any name.
--   taskq.register_worker(name, queues, host, pid, task_names) returns the new worker's uuid
--       (UUIDv7); it replaces the 4-argument form, so calls by name or position keep working.
--       22023 for an empty name or a task_names array with a NULL or empty element.
--   taskq.unregister_worker(worker_id) and taskq.heartbeat(worker_id, lease, task_ids), their
--       times the moment of the call (clock_timestamp()), not the start of its transaction: a
--       heartbeat late in a long transaction extends a lease by all of lease. heartbeat raises
--       22008 for a lease that ends after 9999-12-31 UTC.
--   taskq.heartbeat(worker_id, lease, task_ids) replaces heartbeat(worker_id, lease): given
--       task_ids, it extends only the leases of those of the worker's RUNNING tasks (an empty
--       array: none; the worker is alive all the same), so that a task the worker no longer
--       holds (its outcome was refused, its claim's answer lost) runs out of lease and is
--       rescued, instead of being renewed for ever. NULL (the default) extends them all, as before.
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
        RAISE EXCEPTION 'a worker needs a non-empty name' USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(register_worker.task_names) AS n (name)
               WHERE n.name IS NULL OR btrim(n.name) = '') THEN
        RAISE EXCEPTION 'task_names must not contain NULL or empty names'
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'task_names',
                  HINT = 'NULL instead of an array means any name';
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

CREATE OR REPLACE FUNCTION taskq.unregister_worker(worker_id uuid)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    handed_back integer := 0;
    task record;
    moment timestamptz := clock_timestamp();
BEGIN
    DELETE FROM taskq.workers w WHERE w.id = unregister_worker.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', unregister_worker.worker_id
            USING ERRCODE = 'no_data_found', TABLE = 'workers',
                  DETAIL = jsonb_build_object('worker_id', unregister_worker.worker_id)::text;
    END IF;
    FOR task IN
        WITH held AS (
            SELECT t.id, t.slot FROM taskq.tasks t
            WHERE t.worker_id = unregister_worker.worker_id AND t.status = 'RUNNING'
            FOR UPDATE
        )
        UPDATE taskq.tasks t
        SET status = CASE WHEN t.cancel_requested THEN 'CANCELLED'::taskq.status ELSE 'QUEUED' END,
            finished_at = CASE WHEN t.cancel_requested THEN moment END,
            scheduled_at = CASE WHEN t.cancel_requested THEN t.scheduled_at ELSE moment END,
            attempts = t.attempts - 1,
            lease_token = NULL,
            lease_expires_at = NULL
        FROM held h
        WHERE t.id = h.id
        RETURNING t.queue, h.slot
    LOOP
        PERFORM taskq._release_slot(task.queue, task.slot);
        handed_back := handed_back + 1;
    END LOOP;
    RETURN handed_back;
END;
$$;

COMMENT ON FUNCTION taskq.unregister_worker(uuid) IS
    'Removes a worker and hands its RUNNING tasks back (due now, the interrupted attempt not counted). Returns how many. P0002 for an unknown worker.';

DROP FUNCTION taskq.heartbeat(uuid, interval);

CREATE FUNCTION taskq.heartbeat(
    worker_id uuid,
    lease interval DEFAULT '30 seconds',
    task_ids uuid[] DEFAULT NULL
)
RETURNS SETOF uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    -- the moment of the call, not the start of its transaction: the lease runs from it
    moment timestamptz := clock_timestamp();
BEGIN
    IF heartbeat.lease IS NULL OR heartbeat.lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be a positive interval, not %', coalesce(heartbeat.lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'lease';
    END IF;
    PERFORM taskq._check_until(moment, heartbeat.lease, 'lease', 'lease');
    UPDATE taskq.workers w SET heartbeat_at = moment WHERE w.id = heartbeat.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', heartbeat.worker_id
            USING ERRCODE = 'no_data_found', TABLE = 'workers',
                  DETAIL = jsonb_build_object('worker_id', heartbeat.worker_id)::text,
                  HINT = 'register it again with taskq.register_worker()';
    END IF;
    -- Expired leases not yet rescued are extended too: the worker is evidently alive. Only the
    -- tasks it names, when it names them: a task it dropped must not stay leased for ever.
    RETURN QUERY
    WITH extended AS (
        UPDATE taskq.tasks t SET lease_expires_at = moment + heartbeat.lease
        WHERE t.worker_id = heartbeat.worker_id AND t.status = 'RUNNING'
          AND (heartbeat.task_ids IS NULL OR t.id = ANY (heartbeat.task_ids))
        RETURNING t.id, t.cancel_requested
    )
    SELECT e.id FROM extended e WHERE e.cancel_requested;
END;
$$;

COMMENT ON FUNCTION taskq.heartbeat(uuid, interval, uuid[]) IS
    'Extends the leases of a worker''s RUNNING tasks (only those in task_ids when given; NULL = all) to the moment of the call + lease; returns the ids of those whose cancellation was asked. P0002 for an unknown worker; 22023 lease not positive; 22008 a lease that ends after 9999.';

COMMIT;
