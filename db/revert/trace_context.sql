-- Revert taskq:trace_context from pg (to v0.7.0): _check_trace_context in SQL, as it was
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE OR REPLACE FUNCTION taskq._check_trace_context(trace_context jsonb)
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

COMMIT;
