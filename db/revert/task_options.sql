-- Revert taskq:task_options from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

-- a view loses columns only by being made again: dropped first, made again without them (with
-- its grant) once the columns are gone
DROP VIEW taskq.task_info;

ALTER TABLE taskq.tasks
    DROP COLUMN unique_key,
    DROP COLUMN unique_for,
    DROP COLUMN concurrency_key,
    DROP COLUMN timeout,
    DROP COLUMN progress,
    DROP COLUMN progress_at;

CREATE VIEW taskq.task_info AS
SELECT t.*, taskq.time_to_execute(t) AS time_to_execute
FROM taskq.tasks t;
COMMENT ON VIEW taskq.task_info IS
    'The tasks with time_to_execute in seconds (finished - started, or elapsed while RUNNING; NULL when a time it counts from lies outside years 1..9999 UTC).';
GRANT SELECT ON taskq.task_info TO taskq_reader;

COMMIT;
