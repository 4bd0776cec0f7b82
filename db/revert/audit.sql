-- Revert taskq:audit from pg
BEGIN;

DROP FUNCTION taskq.list_audit(uuid, text, text, timestamptz, timestamptz, bigint, integer);
DROP FUNCTION taskq._audit(text, uuid, text, jsonb, jsonb, text);
DROP VIEW taskq.audit;
DROP TABLE taskq.audit_log;

COMMIT;
