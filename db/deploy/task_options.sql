-- Deploy taskq:task_options to pg
-- requires: roles
--
-- The columns of the per-task options (issue "What every peer has"):
--   unique_key       while a task holding it is live, enqueueing the same key again answers
--                    that task instead of adding one (1 to 256 characters);
--   unique_for       how long after the task finished its key stays taken (NULL: it is free
--                    once the task finished), at most 100 years;
--   concurrency_key  tasks of one key run at most the queue's key limit at once (1 to 256
--                    characters);
--   timeout          how long one attempt may run before the worker cancels it (more than 0,
--                    at most 1 year, as a queue's default timeout);
--   progress         a small JSON value the running handler reports, progress_at when.
-- task_info shows them after time_to_execute (CREATE OR REPLACE VIEW appends columns only).
BEGIN;

SET LOCAL ROLE taskq_owner;

ALTER TABLE taskq.tasks
    ADD COLUMN unique_key text,
    ADD COLUMN unique_for interval,
    ADD COLUMN concurrency_key text,
    ADD COLUMN timeout interval,
    ADD COLUMN progress jsonb,
    ADD COLUMN progress_at timestamptz,
    ADD CONSTRAINT tasks_unique_key_length CHECK (length(unique_key) BETWEEN 1 AND 256),
    -- bounded, so that every client can hold the value (Python's timedelta ends near 2.7 million
    -- years: a task whose interval a worker cannot decode would take its whole claim down)
    ADD CONSTRAINT tasks_unique_for_range CHECK (unique_for BETWEEN interval '0' AND interval '100 years'),
    ADD CONSTRAINT tasks_concurrency_key_length CHECK (length(concurrency_key) BETWEEN 1 AND 256),
    ADD CONSTRAINT tasks_timeout_range CHECK (timeout > interval '0' AND timeout <= interval '1 year');

CREATE OR REPLACE VIEW taskq.task_info AS
SELECT t.id, t.queue, t.name, t.payload, t.priority, t.status, t.scheduled_at, t.created_at,
       t.started_at, t.finished_at, t.attempts, t.max_attempts, t.last_error, t.errors, t.result,
       t.worker_id, t.lease_token, t.lease_expires_at, t.cancel_requested, t.slot,
       taskq.time_to_execute(t) AS time_to_execute,
       t.unique_key, t.unique_for, t.concurrency_key, t.timeout, t.progress, t.progress_at
FROM taskq.tasks t;

COMMENT ON COLUMN taskq.tasks.unique_key IS
    'While a task holding it is QUEUED, PAUSED or RUNNING (or finished less than unique_for ago), enqueueing the key again answers that task.';
COMMENT ON COLUMN taskq.tasks.unique_for IS
    'How long the key stays taken after the task finished; NULL: free once it finished.';
COMMENT ON COLUMN taskq.tasks.concurrency_key IS
    'At most the queue''s key limit of the tasks with one key run at once.';
COMMENT ON COLUMN taskq.tasks.timeout IS
    'How long one attempt may run before the worker cancels it and fails the attempt; NULL: the queue''s default.';
COMMENT ON COLUMN taskq.tasks.progress IS
    'The last progress the running handler reported (a small JSON value), at progress_at.';

COMMIT;
