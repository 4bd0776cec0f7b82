-- Verify taskq:claim_lean on pg
SELECT pg_catalog.has_function_privilege('taskq.claim(uuid, text[], text[], interval, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.held_claims(uuid)', 'execute');
SELECT (NULL::taskq.claimed).id, (NULL::taskq.claimed).lease_expires_at, (NULL::taskq.claimed).timeout;
