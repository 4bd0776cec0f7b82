-- Verify taskq:claim_lean on pg (reworked after v0.5.0)
SELECT pg_catalog.has_function_privilege('taskq.claim(uuid, text[], text[], interval, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.held_claims(uuid)', 'execute');
SELECT (NULL::taskq.claimed).id, (NULL::taskq.claimed).timeout, (NULL::taskq.claimed).trace_context;
