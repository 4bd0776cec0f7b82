-- Verify taskq:trace_context on pg (reworked after v0.7.0)
SELECT trace_context FROM taskq.task_info WHERE false;
SELECT 1 / (taskq._check_trace_context('{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}') IS NULL)::integer;
-- ... or when the function is not PL/pgSQL (a SQL function is parsed at every write of taskq.tasks)
SELECT 1 / count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE p.oid = 'taskq._check_trace_context(jsonb)'::regprocedure AND l.lanname = 'plpgsql';
