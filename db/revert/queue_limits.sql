-- Revert taskq:queue_limits from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.set_key_concurrency(text, integer, text);
DROP FUNCTION taskq.set_rate_limit(text, numeric, interval, integer, text);
DROP FUNCTION taskq._tokens(taskq.queues, timestamptz);
DROP FUNCTION taskq._key_lock(text, text);
DROP INDEX taskq.tasks_running_keyed;
DROP INDEX taskq.tasks_keyed_claimable;
DROP INDEX taskq.queues_limited;

-- a view loses columns only by being made again, and get_queue_stats returns its row type: both
-- dropped, made again as the change views left them (with their grants) once the columns are gone
DROP FUNCTION taskq.get_queue_stats(text);
DROP VIEW taskq.queue_stats;

ALTER TABLE taskq.queues
    DROP COLUMN key_limit,
    DROP COLUMN rate,
    DROP COLUMN rate_per,
    DROP COLUMN rate_burst,
    DROP COLUMN tokens,
    DROP COLUMN refilled_at;

CREATE VIEW taskq.queue_stats AS
SELECT q.name AS queue,
       q.concurrency,
       q.paused,
       count(t.id) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at <= now()) AS queued,
       count(t.id) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at > now()) AS scheduled,
       count(t.id) FILTER (WHERE t.status = 'RUNNING') AS running,
       count(t.id) FILTER (WHERE t.status = 'PAUSED') AS paused_tasks,
       count(t.id) FILTER (WHERE t.status = 'COMPLETED') AS completed,
       count(t.id) FILTER (WHERE t.status = 'FAILED') AS failed,
       count(t.id) FILTER (WHERE t.status = 'CANCELLED') AS cancelled,
       taskq._elapsed(min(t.scheduled_at) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at <= now()), now())
           AS oldest_wait,
       coalesce((SELECT sum(u.queued) FROM taskq.unhandled_tasks u WHERE u.queue = q.name), 0)::bigint AS unhandled
FROM taskq.queues q
LEFT JOIN taskq.tasks t ON t.queue = q.name
GROUP BY q.name, q.concurrency, q.paused;

COMMENT ON VIEW taskq.queue_stats IS
    'One row per queue: settings, tasks per state, the wait of the longest-due QUEUED task (NULL when it is due since a time outside years 1..9999 UTC), and how many due tasks no live worker handles (unhandled).';
GRANT SELECT ON taskq.queue_stats TO taskq_reader;

CREATE FUNCTION taskq.get_queue_stats(queue text)
RETURNS taskq.queue_stats
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    found_stats taskq.queue_stats;
BEGIN
    SELECT s.* INTO found_stats FROM taskq.queue_stats s WHERE s.queue = get_queue_stats.queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', get_queue_stats.queue
            USING ERRCODE = 'no_data_found', TABLE = 'queues',
                  DETAIL = jsonb_build_object('queue', get_queue_stats.queue)::text;
    END IF;
    RETURN found_stats;
END;
$$;

COMMENT ON FUNCTION taskq.get_queue_stats(text) IS
    'The queue''s row of queue_stats. P0002 when the queue does not exist.';
REVOKE EXECUTE ON FUNCTION taskq.get_queue_stats(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskq.get_queue_stats(text) TO taskq_reader;

COMMIT;
