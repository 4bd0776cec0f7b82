-- Revert taskq:enqueue from pg: back to v0.2.0, the JSON form of enqueue_many only.
BEGIN;

DROP FUNCTION taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[]);
DROP FUNCTION taskq._enqueue_arrays_problem(text[], jsonb[], text[], timestamptz[], integer[]);
DROP FUNCTION taskq._is_list(anyarray);

COMMIT;
