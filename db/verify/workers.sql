-- Verify taskq:workers (reworked after v0.3.0)
SELECT id, name, host, pid, queues, task_names, started_at, heartbeat_at, lease FROM taskq.workers WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.register_worker(text, text[], text, integer, text[])', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.unregister_worker(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.heartbeat(uuid, interval, uuid[])', 'execute');
