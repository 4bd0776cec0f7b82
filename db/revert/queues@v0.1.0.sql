-- Revert taskq:queues
BEGIN;
DROP FUNCTION taskq.resume_queue(text);
DROP FUNCTION taskq.pause_queue(text);
DROP FUNCTION taskq.set_concurrency(text, integer);
DROP FUNCTION taskq._release_slot(text, bigint);
DROP FUNCTION taskq._ensure_queue(text);
DROP FUNCTION taskq._claim_lock_key();
DROP TABLE taskq.slots;
DROP TABLE taskq.queues;
COMMIT;
