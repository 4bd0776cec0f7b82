-- Verify taskq:observe on pg
SELECT id, name, host, pid, queues, task_names, started_at, heartbeat_at, lease, running, alive
FROM taskq.worker_info WHERE false;
SELECT pg_catalog.has_function_privilege('taskq.throughput(interval, integer)', 'execute');
