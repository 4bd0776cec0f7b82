-- Verify taskq:queue_limits on pg
SELECT pg_catalog.has_function_privilege('taskq.set_key_concurrency(text, integer, text)', 'execute');
SELECT pg_catalog.has_function_privilege('taskq.set_rate_limit(text, numeric, interval, integer, text)', 'execute');
SELECT key_limit, rate, rate_per, rate_burst, tokens, refilled_at FROM taskq.queues WHERE false;
SELECT key_concurrency, rate, rate_per, rate_burst FROM taskq.queue_stats WHERE false;
SELECT 1 / count(*) FROM pg_catalog.pg_class c WHERE c.oid = to_regclass('taskq.tasks_running_keyed');
