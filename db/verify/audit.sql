-- Verify taskq:audit on pg
SELECT id, at, action, task_id, queue, before, after, db_user, actor, reason FROM taskq.audit_log WHERE false;
SELECT id, at, action, task_id, queue, before, after, db_user, actor, reason FROM taskq.audit WHERE false;
SELECT pg_catalog.has_function_privilege('taskq._audit(text, uuid, text, jsonb, jsonb, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.list_audit(uuid, text, text, timestamptz, timestamptz, bigint, integer)', 'execute');
