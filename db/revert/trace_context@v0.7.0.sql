-- Revert taskq:trace_context from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

-- a view loses columns only by being made again: dropped first, made again as taskq:task_options
-- made it (with its comment and grant) once the column is gone
DROP VIEW taskq.task_info;

ALTER TABLE taskq.tasks DROP COLUMN trace_context;

DROP FUNCTION taskq._check_trace_context(jsonb);

CREATE VIEW taskq.task_info AS
SELECT t.id, t.queue, t.name, t.payload, t.priority, t.status, t.scheduled_at, t.created_at,
       t.started_at, t.finished_at, t.attempts, t.max_attempts, t.last_error, t.errors, t.result,
       t.worker_id, t.lease_token, t.lease_expires_at, t.cancel_requested, t.slot,
       taskq.time_to_execute(t) AS time_to_execute,
       t.unique_key, t.unique_for, t.concurrency_key, t.timeout, t.progress, t.progress_at
FROM taskq.tasks t;
COMMENT ON VIEW taskq.task_info IS
    'The tasks with time_to_execute in seconds (finished - started, or elapsed while RUNNING; NULL when a time it counts from lies outside years 1..9999 UTC).';
GRANT SELECT ON taskq.task_info TO taskq_reader;

COMMIT;
