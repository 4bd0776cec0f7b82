-- Deploy taskq:types
-- requires: schema
--
-- taskq.priority: LOW < MEDIUM < HIGH (declaration order is the sort order, so
--   ORDER BY priority DESC takes HIGH first).
-- taskq.status: the life of a task. A QUEUED task whose scheduled_at is in the future is
--   "scheduled"; that is not a status of its own.
BEGIN;

CREATE TYPE taskq.priority AS ENUM ('LOW', 'MEDIUM', 'HIGH');
COMMENT ON TYPE taskq.priority IS 'LOW < MEDIUM < HIGH; claims take HIGH first.';

CREATE TYPE taskq.status AS ENUM ('QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED');
COMMENT ON TYPE taskq.status IS
    'QUEUED (due or scheduled) -> RUNNING -> COMPLETED | FAILED | CANCELLED; QUEUED <-> PAUSED.';

COMMIT;
