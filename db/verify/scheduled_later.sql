-- Verify taskq:scheduled_later on pg: tasks_scheduled_later exists, is valid and holds the
-- tasks scheduled after their creation only; tasks_scheduled is gone; next_due states the
-- index's predicate, and looks for a rate-limited queue's due task by a LATERAL subquery
SELECT 1 / count(*) FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_scheduled_later') AND i.indisvalid
  AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) LIKE '%QUEUED%scheduled_at > created_at%';
SELECT 1 / (to_regclass('taskq.tasks_scheduled') IS NULL)::integer;
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.next_due(text[])'::regprocedure AND p.prosrc LIKE '%t.scheduled_at > t.created_at%';
SELECT 1 / count(*) FROM pg_catalog.pg_proc p
WHERE p.oid = 'taskq.next_due(text[])'::regprocedure AND p.prosrc LIKE '%LIMIT 1) due%';
