-- Verify taskq:types
SELECT 'HIGH'::taskq.priority, 'QUEUED'::taskq.status;
