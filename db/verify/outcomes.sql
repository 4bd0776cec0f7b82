-- Verify taskq:outcomes (reworked after v0.2.0)
SELECT pg_catalog.has_function_privilege('taskq.complete(uuid, uuid, jsonb)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.fail(uuid, uuid, text, interval, timestamptz)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.backoff(integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._complete(text, uuid[], uuid[], jsonb[], text, text, text, boolean)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._fail(text, uuid[], uuid[], text[], interval[], timestamptz, text, text, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq._release_slots(text[], bigint[])', 'execute');
