-- Revert taskq:schema
BEGIN;
DROP SCHEMA taskq;
COMMIT;
