-- Revert taskq:views from pg: back to v0.1.0's queue_stats and task_info, without unhandled_tasks.
BEGIN;

CREATE OR REPLACE FUNCTION taskq.list_tasks(
    status taskq.status DEFAULT NULL,
    queue text DEFAULT NULL,
    name text DEFAULT NULL,
    after uuid DEFAULT NULL,
    page_size integer DEFAULT 50
)
RETURNS SETOF taskq.tasks
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT t.* FROM taskq.tasks t
    WHERE (list_tasks.status IS NULL OR t.status = list_tasks.status)
      AND (list_tasks.queue IS NULL OR t.queue = list_tasks.queue)
      AND (list_tasks.name IS NULL OR t.name = list_tasks.name)
      AND (list_tasks.after IS NULL OR t.id < list_tasks.after)
    ORDER BY t.id DESC
    LIMIT greatest(list_tasks.page_size, 0)
$$;

COMMENT ON FUNCTION taskq.list_tasks(taskq.status, text, text, uuid, integer) IS
    'A keyset page of tasks, newest first: ids below after (NULL: from the newest) matching every filter given.';

DROP VIEW taskq.queue_stats;

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
       now() - min(t.scheduled_at) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at <= now()) AS oldest_wait
FROM taskq.queues q
LEFT JOIN taskq.tasks t ON t.queue = q.name
GROUP BY q.name, q.concurrency, q.paused;

COMMENT ON VIEW taskq.queue_stats IS 'One row per queue: settings, tasks per state, and the wait of the longest-due QUEUED task.';

DROP VIEW taskq.unhandled_tasks;

CREATE OR REPLACE VIEW taskq.task_info AS
SELECT t.*,
       extract(epoch FROM CASE WHEN t.status = 'RUNNING' THEN now() - t.started_at
                               WHEN t.finished_at IS NOT NULL THEN t.finished_at - t.started_at END
       )::double precision AS time_to_execute
FROM taskq.tasks t;

COMMENT ON VIEW taskq.task_info IS 'The tasks with time_to_execute in seconds (finished - started, or elapsed while RUNNING).';

DROP FUNCTION taskq._elapsed(timestamptz, timestamptz);

COMMIT;
