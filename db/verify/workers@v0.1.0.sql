-- Verify taskq:workers
SELECT id, name, host, pid, queues, started_at, heartbeat_at FROM taskq.workers WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.register_worker(text, text[], text, integer)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.unregister_worker(uuid)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.heartbeat(uuid, interval)', 'execute');
