-- Revert taskq:tasks_unique_key from pg
-- no transaction block: DROP INDEX CONCURRENTLY waits for no one's writes and blocks none
DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_unique_key;
