-- Revert taskq:complete_and_claim from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.complete_and_claim(uuid[], uuid[], jsonb[], uuid, text[], text[], interval, integer);

COMMIT;
