-- Revert taskq:tasks_finished from pg
-- no transaction block: DROP INDEX CONCURRENTLY waits for no one's writes and blocks none
DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_finished;
