-- Revert taskq:retention from pg
BEGIN;

DROP FUNCTION taskq.maintain(integer);
DROP FUNCTION taskq._remove_dead_workers(timestamptz);
DROP FUNCTION taskq.prune(integer, text);
DROP FUNCTION taskq._prune(integer);
DROP FUNCTION taskq._prune_audit(timestamptz, integer);
DROP VIEW taskq.queue_retention;
DROP FUNCTION taskq.set_retention(text, interval, interval, interval, text);
DROP FUNCTION taskq._check_retention(interval, text);
DROP FUNCTION taskq._retention_unchanged();
ALTER TABLE taskq.queues DROP COLUMN retain_completed, DROP COLUMN retain_failed, DROP COLUMN retain_cancelled;

COMMIT;
