-- Revert taskq:enqueue from pg (to v0.9.0): taskq.enqueue as it was, every task through
-- taskq._enqueue (its signature is unchanged, so its grants stay)
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE OR REPLACE FUNCTION taskq.enqueue(
    name text,
    payload jsonb DEFAULT '{}',
    priority taskq.priority DEFAULT 'MEDIUM',
    scheduled_at timestamptz DEFAULT now(),
    queue text DEFAULT 'default',
    max_attempts integer DEFAULT 3,
    unique_key text DEFAULT NULL,
    unique_for interval DEFAULT NULL,
    concurrency_key text DEFAULT NULL,
    timeout interval DEFAULT NULL,
    trace_context jsonb DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    new_id uuid;
    created boolean;
    target_queue text := coalesce(enqueue.queue, 'default');
BEGIN
    PERFORM taskq._check_task(enqueue.name, coalesce(enqueue.payload, '{}'), coalesce(enqueue.max_attempts, 3));
    PERFORM taskq._check_time(enqueue.scheduled_at, 'scheduled_at', 'scheduled_at');
    PERFORM taskq._check_options(enqueue.unique_key, enqueue.unique_for, enqueue.concurrency_key, enqueue.timeout);
    PERFORM taskq._require_trace_context(enqueue.trace_context);
    PERFORM taskq._ensure_queue(target_queue);
    SELECT e.task_id, e.created INTO new_id, created
    FROM taskq._enqueue(NULL, target_queue, enqueue.name, coalesce(enqueue.payload, '{}'),
                        coalesce(enqueue.priority, 'MEDIUM'), coalesce(enqueue.scheduled_at, now()),
                        coalesce(enqueue.max_attempts, 3), enqueue.unique_key, enqueue.unique_for,
                        enqueue.concurrency_key, enqueue.timeout, enqueue.trace_context) e;
    IF created THEN
        -- Scheduled tasks notify too: an idle worker wakes to learn the new earliest due time.
        PERFORM pg_notify('taskq', target_queue);
    END IF;
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval, jsonb) IS
    'Adds a QUEUED task (scheduled when scheduled_at is in the future) and returns its id, or the id of the task that holds its unique_key; creates the queue if new; notifies channel taskq with the queue name. 22004/22023 for bad arguments (names of 1 to 128 characters, not blank; a payload nested at most 64 levels; keys of 1 to 256 characters, not blank; a unique_for not negative; a timeout positive and finite; a trace_context of a W3C traceparent and an optional tracestate); 22008 for a scheduled_at outside years 1..9999 UTC.';

COMMIT;
