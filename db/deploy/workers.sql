-- Deploy taskq:workers to pg (reworked after v0.3.0)
-- requires: workers@v0.3.0
--
-- A worker's row keeps the lease of its last heartbeat, so that taskq.maintain can tell a dead
-- worker from one that beats rarely because its lease is long:
--   taskq.workers.lease: the lease its last heartbeat asked for; NULL until its first heartbeat
--       (maintain then takes the default lease, 30 seconds).
--   taskq.heartbeat(worker_id, lease, task_ids) as before, and it stores lease in that column.
BEGIN;

ALTER TABLE taskq.workers ADD COLUMN lease interval;
COMMENT ON COLUMN taskq.workers.lease IS 'the lease of the worker''s last heartbeat; NULL before its first (taken as 30 seconds)';

CREATE OR REPLACE FUNCTION taskq.heartbeat(
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
    UPDATE taskq.workers w SET heartbeat_at = moment, lease = heartbeat.lease WHERE w.id = heartbeat.worker_id;
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
    'Extends the leases of a worker''s RUNNING tasks (only those in task_ids when given; NULL = all) to the moment of the call + lease, and keeps lease in the worker''s row (taskq.maintain tells a dead worker by it); returns the ids of those whose cancellation was asked. P0002 for an unknown worker; 22023 lease not positive; 22008 a lease that ends after 9999.';

COMMIT;
