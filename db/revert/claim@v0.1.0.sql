-- Revert taskq:claim
BEGIN;
DROP FUNCTION taskq.next_due(text[]);
DROP FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer);
DROP FUNCTION taskq.rescue_expired();
COMMIT;
