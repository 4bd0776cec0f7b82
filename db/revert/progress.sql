-- Revert taskq:progress from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.report_progress(uuid, uuid, jsonb);
DROP FUNCTION taskq.report_progress(uuid[], uuid[], jsonb[]);
DROP FUNCTION taskq._store_progress(uuid[], uuid[], jsonb[]);
DROP FUNCTION taskq._check_progress(jsonb, text);

COMMIT;
