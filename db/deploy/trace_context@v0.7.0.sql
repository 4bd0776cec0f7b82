-- Deploy taskq:trace_context to pg
-- requires: task_options
-- requires: roles
--
-- taskq.tasks.trace_context: the W3C trace context (https://www.w3.org/TR/trace-context/) of
-- whatever enqueued the task, so that the worker's span of the handler continues its trace.
-- NULL (the default) or a JSON object of at most two keys:
--   "traceparent"  required: a version-00 header, 00-<trace id: 32 hex>-<span id: 16 hex>-<flags:
--                  2 hex>, lower case, neither id all zeros;
--   "tracestate"   optional: a JSON string of at most 512 characters (what the specification asks
--                  every vendor to pass on), kept as it came.
-- No other key: the column carries a trace, not baggage, and stays small.
--   taskq._check_trace_context(trace_context) is that rule in one SQL expression: NULL when the
--   value is NULL or good, else what is wrong with it (a phrase after "trace_context "). The
--   column's CHECK calls it; so do the enqueues, which raise 22023 with the phrase (never the
--   CHECK's 23514).
-- task_info shows the column last (CREATE OR REPLACE VIEW appends columns only).
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE FUNCTION taskq._check_trace_context(trace_context jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE
        WHEN _check_trace_context.trace_context IS NULL THEN NULL
        WHEN jsonb_typeof(_check_trace_context.trace_context) <> 'object' THEN
            format('must be a JSON object with a traceparent, not %s', jsonb_typeof(_check_trace_context.trace_context))
        WHEN _check_trace_context.trace_context - ARRAY['traceparent', 'tracestate'] <> '{}' THEN
            format('has an unknown key "%s"; its keys are traceparent and tracestate',
                   (SELECT min(k.key)
                    FROM jsonb_object_keys(_check_trace_context.trace_context - ARRAY['traceparent', 'tracestate'])
                         AS k (key)))
        WHEN jsonb_typeof(_check_trace_context.trace_context -> 'traceparent') IS DISTINCT FROM 'string' THEN
            format('traceparent must be a JSON string, not %s',
                   coalesce(jsonb_typeof(_check_trace_context.trace_context -> 'traceparent'), 'missing'))
        WHEN (_check_trace_context.trace_context ->> 'traceparent') !~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' THEN
            format('traceparent must be a W3C traceparent, 00-<32 hex digits>-<16 hex digits>-<2 hex digits> in lower case, not %s',
                   quote_literal(left(_check_trace_context.trace_context ->> 'traceparent', 64)))
        WHEN substr(_check_trace_context.trace_context ->> 'traceparent', 4, 32) = repeat('0', 32) THEN
            'traceparent must not have a trace id of all zeros'
        WHEN substr(_check_trace_context.trace_context ->> 'traceparent', 37, 16) = repeat('0', 16) THEN
            'traceparent must not have a parent id of all zeros'
        WHEN jsonb_typeof(_check_trace_context.trace_context -> 'tracestate') <> 'string' THEN
            format('tracestate must be a JSON string, not %s', jsonb_typeof(_check_trace_context.trace_context -> 'tracestate'))
        WHEN length(_check_trace_context.trace_context ->> 'tracestate') > 512 THEN
            format('tracestate must be at most 512 characters, not %s',
                   length(_check_trace_context.trace_context ->> 'tracestate'))
    END
$$;

COMMENT ON FUNCTION taskq._check_trace_context(jsonb) IS
    'Internal: NULL when a trace_context is NULL or good (a JSON object: traceparent, a W3C version-00 header whose ids are not all zeros; tracestate, an optional string of at most 512 characters; no other key); else what is wrong, a phrase after "trace_context ".';

-- NOT VALID: the column is new, so every row already holds NULL, and the deploy does not read
-- the whole table under the ALTER's ACCESS EXCLUSIVE lock (every enqueue and claim would wait);
-- the CHECK holds for every row written from here on.
ALTER TABLE taskq.tasks
    ADD COLUMN trace_context jsonb,
    -- trace_context IS NULL first: a CHECK runs on every UPDATE of a row (each claim, heartbeat
    -- and outcome), and the function, which PostgreSQL cannot inline, doubled the cost of an
    -- UPDATE of a task without a trace context (200,000 rows: 8.9 s against 4.8 s)
    ADD CONSTRAINT tasks_trace_context_shape
        CHECK (trace_context IS NULL OR taskq._check_trace_context(trace_context) IS NULL) NOT VALID;

COMMENT ON COLUMN taskq.tasks.trace_context IS
    'The W3C trace context of what enqueued the task ({"traceparent": ..., "tracestate": ...}): the worker''s span of the handler continues that trace. NULL: none.';

CREATE OR REPLACE VIEW taskq.task_info AS
SELECT t.id, t.queue, t.name, t.payload, t.priority, t.status, t.scheduled_at, t.created_at,
       t.started_at, t.finished_at, t.attempts, t.max_attempts, t.last_error, t.errors, t.result,
       t.worker_id, t.lease_token, t.lease_expires_at, t.cancel_requested, t.slot,
       taskq.time_to_execute(t) AS time_to_execute,
       t.unique_key, t.unique_for, t.concurrency_key, t.timeout, t.progress, t.progress_at,
       t.trace_context
FROM taskq.tasks t;

COMMIT;
