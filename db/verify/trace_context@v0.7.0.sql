-- Verify taskq:trace_context on pg
SELECT trace_context FROM taskq.task_info WHERE false;
SELECT 1 / (taskq._check_trace_context('{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}') IS NULL)::integer;
