-- Revert taskq:claim_lean from pg
BEGIN;

DROP FUNCTION taskq.claim(uuid, text[], text[], interval, integer);
DROP TYPE taskq.claimed;

COMMIT;
