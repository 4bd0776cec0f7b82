-- Deploy taskq:views to pg (reworked after v0.1.0)
-- requires: views@v0.1.0, workers
--
-- Which tasks wait for a handler, for people in psql.
--   taskq.unhandled_tasks: one row per queue and task name with due QUEUED tasks that no live
--       worker takes: none of the workers that heartbeated in the last 5 minutes serves the
--       queue (workers.queues NULL = all) and handles the name (workers.task_names NULL = any).
--       Columns queue, name, queued (how many), oldest_wait (the wait of the longest-due one).
--       Such a task keeps waiting, its attempts untouched, until a worker that handles it runs.
--   taskq.queue_stats gains a last column, unhandled: the queue's due QUEUED tasks counted in
--       unhandled_tasks.
--   taskq.list_tasks(..., page_size) raises 22023 for a page_size that is NULL or outside
--       1..1000 (it returned nothing for NULL, 0 or a negative size).
--   taskq.time_to_execute(task, now) returns a task's seconds of execution: finished - started,
--       or elapsed until now (default: the transaction's now()) while RUNNING, else NULL.
--       task_info.time_to_execute is this function.
--   taskq.list_tasks_page(status, queue, name, after, page_size) returns the page list_tasks
--       returns, one row (task, next_cursor) per task: next_cursor is the id to pass as after
--       for the next page, the same on every row, NULL when no task follows the page.
--   taskq.get_queue_stats(queue) returns the queue's row of queue_stats; raises P0002 (TABLE
--       queues, DETAIL {"queue"}) when the queue does not exist.
-- A wait or a duration counted from a time outside years 1..9999 UTC (infinity, -infinity, a BC
-- date: taskq refuses them now, but a row stored before may hold one) is NULL, never an error:
--   taskq._elapsed(since, until) returns until - since, or NULL when either lies outside that
--       range. queue_stats.oldest_wait, unhandled_tasks.oldest_wait and task_info.time_to_execute
--       count with it (PostgreSQL 15 raised 22008 "cannot subtract infinite timestamps" for the
--       whole view; 16 and later gave an infinite interval, which no Python client can hold).
BEGIN;

-- One SQL expression, so that the planner inlines it into the views.
CREATE FUNCTION taskq._elapsed(since timestamptz, until timestamptz)
RETURNS interval
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN _elapsed.since >= '0001-01-01 00:00:00+00' AND _elapsed.since < '10000-01-01 00:00:00+00'
                 AND _elapsed.until >= '0001-01-01 00:00:00+00' AND _elapsed.until < '10000-01-01 00:00:00+00'
                THEN _elapsed.until - _elapsed.since END
$$;

COMMENT ON FUNCTION taskq._elapsed(timestamptz, timestamptz) IS
    'Internal: until - since, or NULL when either time lies outside years 1..9999 UTC (infinity, -infinity, a BC date), or is NULL.';

CREATE VIEW taskq.unhandled_tasks AS
SELECT g.queue, g.name, g.queued, g.oldest_wait
FROM (
    SELECT t.queue, t.name, count(*) AS queued, taskq._elapsed(min(t.scheduled_at), now()) AS oldest_wait
    FROM taskq.tasks t
    WHERE t.status = 'QUEUED' AND t.scheduled_at <= now()
    GROUP BY t.queue, t.name
) g
WHERE NOT EXISTS (
    SELECT 1 FROM taskq.workers w
    -- a worker heartbeats every third of its lease: one that has not for 5 minutes is gone
    WHERE w.heartbeat_at > now() - interval '5 minutes'
      AND (w.queues IS NULL OR g.queue = ANY (w.queues))
      AND (w.task_names IS NULL OR g.name = ANY (w.task_names))
);

COMMENT ON VIEW taskq.unhandled_tasks IS
    'Due QUEUED tasks per queue and name that no live worker (heartbeat in the last 5 minutes) serving the queue handles: they wait for a handler. oldest_wait is NULL when the longest-due one is due since a time outside years 1..9999 UTC.';

CREATE OR REPLACE VIEW taskq.queue_stats AS
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

CREATE FUNCTION taskq.time_to_execute(task taskq.tasks, now timestamptz DEFAULT NULL)
RETURNS double precision
LANGUAGE sql
STABLE
AS $$
    SELECT extract(epoch FROM CASE WHEN (time_to_execute.task).status = 'RUNNING'
                                   THEN taskq._elapsed((time_to_execute.task).started_at, coalesce(time_to_execute.now, now()))
                                   WHEN (time_to_execute.task).finished_at IS NOT NULL
                                   THEN taskq._elapsed((time_to_execute.task).started_at, (time_to_execute.task).finished_at) END
    )::double precision
$$;

COMMENT ON FUNCTION taskq.time_to_execute(taskq.tasks, timestamptz) IS
    'Seconds: finished - started, or elapsed until now (NULL: the transaction''s now()) while RUNNING, else NULL; NULL too when a time it counts from lies outside years 1..9999 UTC.';

CREATE OR REPLACE VIEW taskq.task_info AS
SELECT t.*, taskq.time_to_execute(t) AS time_to_execute
FROM taskq.tasks t;

COMMENT ON VIEW taskq.task_info IS
    'The tasks with time_to_execute in seconds (finished - started, or elapsed while RUNNING; NULL when a time it counts from lies outside years 1..9999 UTC).';

CREATE OR REPLACE FUNCTION taskq.list_tasks(
    status taskq.status DEFAULT NULL,
    queue text DEFAULT NULL,
    name text DEFAULT NULL,
    after uuid DEFAULT NULL,
    page_size integer DEFAULT 50
)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    IF list_tasks.page_size IS NULL OR list_tasks.page_size < 1 OR list_tasks.page_size > 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000, not %', coalesce(list_tasks.page_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'page_size';
    END IF;
    RETURN QUERY
    SELECT t.* FROM taskq.tasks t
    WHERE (list_tasks.status IS NULL OR t.status = list_tasks.status)
      AND (list_tasks.queue IS NULL OR t.queue = list_tasks.queue)
      AND (list_tasks.name IS NULL OR t.name = list_tasks.name)
      AND (list_tasks.after IS NULL OR t.id < list_tasks.after)
    ORDER BY t.id DESC
    LIMIT list_tasks.page_size;
END;
$$;

COMMENT ON FUNCTION taskq.list_tasks(taskq.status, text, text, uuid, integer) IS
    'A keyset page of 1 to 1000 tasks, newest first: ids below after (NULL: from the newest) matching every filter given. 22023 for a page_size outside 1..1000.';

CREATE FUNCTION taskq.list_tasks_page(
    status taskq.status DEFAULT NULL,
    queue text DEFAULT NULL,
    name text DEFAULT NULL,
    after uuid DEFAULT NULL,
    page_size integer DEFAULT 50
)
RETURNS TABLE (task taskq.tasks, next_cursor uuid)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    -- list_tasks checks page_size; a page is followed when a task matches below its last id
    WITH page AS (
        SELECT t FROM taskq.list_tasks(list_tasks_page.status, list_tasks_page.queue, list_tasks_page.name,
                                       list_tasks_page.after, list_tasks_page.page_size) t
    ), page_end AS (
        SELECT (p.t).id FROM page p
        WHERE (SELECT count(*) FROM page) = list_tasks_page.page_size
        ORDER BY (p.t).id LIMIT 1
    ), following AS (
        SELECT e.id FROM page_end e
        WHERE EXISTS (SELECT 1 FROM taskq.list_tasks(list_tasks_page.status, list_tasks_page.queue,
                                                     list_tasks_page.name, e.id, 1))
    )
    SELECT p.t, (SELECT f.id FROM following f) FROM page p ORDER BY (p.t).id DESC
$$;

COMMENT ON FUNCTION taskq.list_tasks_page(taskq.status, text, text, uuid, integer) IS
    'The page list_tasks returns, one row (task, next_cursor) per task: next_cursor is the after of the next page, NULL when no task follows. 22023 for a page_size outside 1..1000.';

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

COMMIT;
