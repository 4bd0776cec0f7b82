-- Revert taskq:observe from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.throughput(interval, integer);
DROP VIEW taskq.worker_info;

COMMIT;
