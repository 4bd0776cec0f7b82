-- Deploy taskq:trace_context to pg (reworked after v0.7.0)
-- requires: trace_context@v0.7.0
--
-- taskq._check_trace_context keeps its rule, its answers and its signature, and is written in
-- PL/pgSQL instead of SQL. The CHECK tasks_trace_context_shape calls it, and PostgreSQL prepares
-- a table's CHECK expressions at the start of every statement that writes the table: for a SQL
-- function that means parsing and analysing its body to see whether it can be inlined (it cannot:
-- the body holds a sub-select), at every enqueue, claim, heartbeat and outcome, whatever the
-- rows hold. A claim of one task spent an eighth of its time there (perf); with PL/pgSQL, whose
-- functions are never inlined, nothing is parsed. The function still runs only for a row that
-- has a trace context.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE OR REPLACE FUNCTION taskq._check_trace_context(trace_context jsonb)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    value jsonb := _check_trace_context.trace_context;
BEGIN
    -- one test a line, in the order of the rule; each a simple expression (no statement is run)
    -- but the unknown key's name, looked up only when there is one
    IF value IS NULL THEN
        RETURN NULL;
    ELSIF jsonb_typeof(value) <> 'object' THEN
        RETURN format('must be a JSON object with a traceparent, not %s', jsonb_typeof(value));
    ELSIF value - ARRAY['traceparent', 'tracestate'] <> '{}' THEN
        RETURN format('has an unknown key "%s"; its keys are traceparent and tracestate',
                      (SELECT min(k.key) FROM jsonb_object_keys(value - ARRAY['traceparent', 'tracestate']) AS k (key)));
    ELSIF jsonb_typeof(value -> 'traceparent') IS DISTINCT FROM 'string' THEN
        RETURN format('traceparent must be a JSON string, not %s', coalesce(jsonb_typeof(value -> 'traceparent'), 'missing'));
    ELSIF (value ->> 'traceparent') !~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' THEN
        RETURN format('traceparent must be a W3C traceparent, 00-<32 hex digits>-<16 hex digits>-<2 hex digits> in lower case, not %s',
                      quote_literal(left(value ->> 'traceparent', 64)));
    ELSIF substr(value ->> 'traceparent', 4, 32) = repeat('0', 32) THEN
        RETURN 'traceparent must not have a trace id of all zeros';
    ELSIF substr(value ->> 'traceparent', 37, 16) = repeat('0', 16) THEN
        RETURN 'traceparent must not have a parent id of all zeros';
    ELSIF jsonb_typeof(value -> 'tracestate') <> 'string' THEN
        RETURN format('tracestate must be a JSON string, not %s', jsonb_typeof(value -> 'tracestate'));
    ELSIF length(value ->> 'tracestate') > 512 THEN
        RETURN format('tracestate must be at most 512 characters, not %s', length(value ->> 'tracestate'));
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION taskq._check_trace_context(jsonb) IS
    'Internal: NULL when a trace_context is NULL or good (a JSON object: traceparent, a W3C version-00 header whose ids are not all zeros; tracestate, an optional string of at most 512 characters; no other key); else what is wrong, a phrase after "trace_context ".';

COMMIT;
