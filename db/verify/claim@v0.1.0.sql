-- Verify taskq:claim
SELECT pg_catalog.has_function_privilege('taskq.claim_next(uuid, text[], text[], interval, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.rescue_expired()', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.next_due(text[])', 'execute');
