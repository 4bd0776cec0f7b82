-- Revert taskq:claim_index_order
BEGIN;
ALTER FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer)
    RESET enable_sort
    RESET jit
    RESET plan_cache_mode
    RESET enable_seqscan
    RESET enable_hashjoin;
COMMIT;
