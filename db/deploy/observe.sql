-- Deploy taskq:observe to pg
-- requires: roles
--
-- What a dashboard, a metrics scrape or `taskq top` reads: the workers, and the tasks finished
-- per stretch of time.
--   taskq.worker_info: one row per registered worker: its name, host, pid, queues, task names,
--       start, last heartbeat and lease, how many tasks it runs (RUNNING with its id), and
--       alive: false once its last heartbeat is older than its lease (30 seconds for a worker
--       that never beat). A live worker beats every third of its lease, so a worker presumed
--       dead has missed three beats; maintain removes it later (older than greatest(5 minutes,
--       10 leases)) and rescues its tasks.
--   taskq.throughput(bucket, buckets) returns one row per queue and bucket, oldest first:
--       the tasks that finished in [bucket_start, bucket_end) as COMPLETED, FAILED (for good:
--       an attempt that fails with attempts left is not a finish) and CANCELLED. The buckets
--       end at the moment of the call, so the last one is the most recent full stretch. 22004
--       for a NULL; 22023 unless 1 second <= bucket <= 1 day, 1 <= buckets <= 1440 and the
--       window (bucket x buckets) is at most 1 day. It
--       reads tasks_finished by (queue, status, finished_at): its cost is the tasks of the
--       window, whatever the history kept. Pruned tasks are not counted.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE VIEW taskq.worker_info AS
SELECT w.id,
       w.name,
       w.host,
       w.pid,
       -- register_worker lets a NULL into queues: it names no queue
       array_remove(w.queues, NULL) AS queues,
       w.task_names,
       w.started_at,
       w.heartbeat_at,
       coalesce(w.lease, interval '30 seconds') AS lease,
       (SELECT count(*) FROM taskq.tasks t WHERE t.status = 'RUNNING' AND t.worker_id = w.id) AS running,
       w.heartbeat_at + coalesce(w.lease, interval '30 seconds') >= now() AS alive
FROM taskq.workers w;

COMMENT ON VIEW taskq.worker_info IS
    'One row per registered worker: name, host, pid, queues (NULL: all), task_names (NULL: any), started_at, heartbeat_at, lease, running (its RUNNING tasks), alive (false: presumed dead, its last heartbeat older than its lease).';

CREATE FUNCTION taskq.throughput(bucket interval DEFAULT interval '1 minute', buckets integer DEFAULT 30)
RETURNS TABLE (queue text, bucket_start timestamptz, bucket_end timestamptz,
               completed bigint, failed bigint, cancelled bigint)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    moment  timestamptz := clock_timestamp();
    seconds double precision;
    span    interval;
BEGIN
    IF throughput.bucket IS NULL THEN
        RAISE EXCEPTION 'bucket must not be NULL' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'bucket';
    END IF;
    IF throughput.buckets IS NULL THEN
        RAISE EXCEPTION 'buckets must not be NULL' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'buckets';
    END IF;
    -- NOT (x >= 1 s AND x <= 1 day) also refuses 'infinity' and '-infinity' (PostgreSQL 17+)
    IF NOT (throughput.bucket >= interval '1 second' AND throughput.bucket <= interval '1 day') THEN
        RAISE EXCEPTION 'bucket must be from 1 second to 1 day, not %', throughput.bucket
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'bucket';
    END IF;
    IF throughput.buckets < 1 OR throughput.buckets > 1440 THEN
        RAISE EXCEPTION 'buckets must be from 1 to 1440, not %', throughput.buckets
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'buckets';
    END IF;
    -- in seconds, so that '1 mon -29 days' is one day and not a calendar month
    seconds := extract(epoch FROM throughput.bucket);
    -- a day at most, so that no reader's call counts more than a day of finished tasks
    IF seconds * throughput.buckets > 86400 THEN
        RAISE EXCEPTION 'bucket x buckets must be at most 1 day, not % x %', throughput.bucket, throughput.buckets
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'buckets';
    END IF;
    span := make_interval(secs => seconds * throughput.buckets);
    RETURN QUERY
    WITH b AS (
        SELECT g AS k,
               moment - span + make_interval(secs => seconds * g) AS s,
               moment - span + make_interval(secs => seconds * (g + 1)) AS e
        FROM generate_series(0, throughput.buckets - 1) g
    ),
    counts AS (
        SELECT q.name AS queue,
               least(floor(extract(epoch FROM t.finished_at - (moment - span)) / seconds)::integer,
                     throughput.buckets - 1) AS k,
               count(*) FILTER (WHERE t.status = 'COMPLETED') AS completed,
               count(*) FILTER (WHERE t.status = 'FAILED') AS failed,
               count(*) FILTER (WHERE t.status = 'CANCELLED') AS cancelled
        FROM taskq.queues q
        CROSS JOIN unnest('{COMPLETED,FAILED,CANCELLED}'::taskq.status[]) s(status)
        -- one range of tasks_finished per queue and status (its predicate stated, so that the
        -- partial index applies; OFFSET 0 keeps the planner from flattening it into a scan
        -- of every finished task)
        CROSS JOIN LATERAL (
            SELECT f.status, f.finished_at
            FROM taskq.tasks f
            WHERE f.queue = q.name AND f.status = s.status AND f.status >= 'COMPLETED'
              AND f.finished_at >= moment - span AND f.finished_at < moment
            OFFSET 0
        ) t
        GROUP BY 1, 2
    )
    SELECT q.name, b.s, b.e,
           coalesce(c.completed, 0), coalesce(c.failed, 0), coalesce(c.cancelled, 0)
    FROM taskq.queues q
    CROSS JOIN b
    LEFT JOIN counts c ON c.queue = q.name AND c.k = b.k
    ORDER BY q.name, b.s;
END;
$$;

COMMENT ON FUNCTION taskq.throughput(interval, integer) IS
    'For taskq_reader. One row per queue and bucket, oldest first, the last ending at the call: the tasks that finished in it as COMPLETED, FAILED (for good) and CANCELLED. 22004 for a NULL; 22023 unless 1 second <= bucket <= 1 day, 1 <= buckets <= 1440 and bucket x buckets <= 1 day.';

GRANT SELECT ON taskq.worker_info TO taskq_reader;
GRANT EXECUTE ON FUNCTION taskq.throughput(interval, integer) TO taskq_reader;

COMMIT;
