-- Revert taskq:workers from pg: back to v0.1.0's register_worker(name, queues, host, pid) and
-- heartbeat(worker_id, lease).
BEGIN;

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
BEGIN
    DELETE FROM taskq.workers w WHERE w.id = unregister_worker.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', unregister_worker.worker_id USING ERRCODE = 'no_data_found';
    END IF;
    FOR task IN
        WITH held AS (
            SELECT t.id, t.slot FROM taskq.tasks t
            WHERE t.worker_id = unregister_worker.worker_id AND t.status = 'RUNNING'
            FOR UPDATE
        )
        UPDATE taskq.tasks t
        SET status = CASE WHEN t.cancel_requested THEN 'CANCELLED'::taskq.status ELSE 'QUEUED' END,
            finished_at = CASE WHEN t.cancel_requested THEN now() END,
            scheduled_at = CASE WHEN t.cancel_requested THEN t.scheduled_at ELSE now() END,
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

DROP FUNCTION taskq.heartbeat(uuid, interval, uuid[]);

CREATE FUNCTION taskq.heartbeat(worker_id uuid, lease interval DEFAULT '30 seconds')
RETURNS SETOF uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    IF heartbeat.lease IS NULL OR heartbeat.lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be a positive interval, not %', coalesce(heartbeat.lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE taskq.workers w SET heartbeat_at = now() WHERE w.id = heartbeat.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', heartbeat.worker_id
            USING ERRCODE = 'no_data_found', HINT = 'register it again with taskq.register_worker()';
    END IF;
    -- Expired leases not yet rescued are extended too: the worker is evidently alive.
    RETURN QUERY
    WITH extended AS (
        UPDATE taskq.tasks t SET lease_expires_at = now() + heartbeat.lease
        WHERE t.worker_id = heartbeat.worker_id AND t.status = 'RUNNING'
        RETURNING t.id, t.cancel_requested
    )
    SELECT e.id FROM extended e WHERE e.cancel_requested;
END;
$$;

COMMENT ON FUNCTION taskq.heartbeat(uuid, interval) IS
    'Extends the leases of a worker''s RUNNING tasks to now() + lease; returns the ids of those whose cancellation was asked. P0002 for an unknown worker.';

DROP FUNCTION taskq.register_worker(text, text[], text, integer, text[]);

CREATE FUNCTION taskq.register_worker(name text, queues text[] DEFAULT NULL, host text DEFAULT NULL, pid integer DEFAULT NULL)
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
    INSERT INTO taskq.workers AS w (name, queues, host, pid)
    VALUES (register_worker.name, register_worker.queues, register_worker.host, register_worker.pid)
    RETURNING w.id INTO new_id;
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION taskq.register_worker(text, text[], text, integer) IS
    'Registers a worker; returns its id for claim_next, heartbeat and unregister_worker. 22023 for an empty name.';

ALTER TABLE taskq.workers DROP COLUMN task_names;

COMMIT;
