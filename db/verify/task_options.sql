-- Verify taskq:task_options on pg
SELECT unique_key, unique_for, concurrency_key, timeout, progress, progress_at
FROM taskq.task_info WHERE false;
