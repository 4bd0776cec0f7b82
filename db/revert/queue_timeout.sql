-- Revert taskq:queue_timeout from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.set_default_timeout(text, interval, text);
DROP FUNCTION taskq._check_timeout(interval, text);
ALTER TABLE taskq.queues DROP COLUMN default_timeout;

COMMIT;
