-- Revert taskq:health from pg
BEGIN;

DROP VIEW taskq.cleanup_holders;
DROP FUNCTION taskq._cleanup_holders();
DROP VIEW taskq.table_health;

COMMIT;
