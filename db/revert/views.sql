-- Revert taskq:views from pg: back to v0.1.0's queue_stats, without unhandled_tasks.
BEGIN;

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

COMMIT;
