-- Revert taskq:claim_index_order
BEGIN;
ALTER FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer) RESET enable_sort RESET jit;
COMMIT;
