-- Revert taskq:workers
BEGIN;
DROP FUNCTION taskq.heartbeat(uuid, interval);
DROP FUNCTION taskq.unregister_worker(uuid);
DROP FUNCTION taskq.register_worker(text, text[], text, integer);
DROP TABLE taskq.workers;
COMMIT;
