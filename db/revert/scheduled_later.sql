-- Revert taskq:scheduled_later from pg
-- no transaction block (see the deploy script): tasks_scheduled is built again without blocking
-- writes, an invalid leftover of a failed build dropped first; next_due as it was
SELECT 'DROP INDEX CONCURRENTLY taskq.tasks_scheduled'
FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_scheduled') AND NOT i.indisvalid
\gexec

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_scheduled ON taskq.tasks (scheduled_at)
    WHERE status = 'QUEUED';

BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE OR REPLACE FUNCTION taskq.next_due(queues text[] DEFAULT NULL)
RETURNS timestamptz
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    -- Future times, and one just past: due tasks that wait for a slot, a key's place or a
    -- resumed queue are announced by NOTIFY. A rate-limited queue's due tasks wait for its next
    -- token, which arrives when the tokens the bucket held at refilled_at, plus rate per rate_per
    -- since, make one. That moment is answered also when it passed less than a second ago: a
    -- token that came between a worker's empty claim and this call would else leave the worker
    -- asleep until its poll; a queue that keeps a token unspent longer (its slots are full)
    -- waits for NOTIFY again.
    SELECT least(
        (SELECT t.scheduled_at FROM taskq.tasks t
         WHERE t.status = 'QUEUED' AND t.scheduled_at > now()
           AND (next_due.queues IS NULL OR t.queue = ANY (next_due.queues))
         ORDER BY t.scheduled_at
         LIMIT 1),
        (SELECT min(b.token_at)
         FROM taskq.queues q
         CROSS JOIN LATERAL (SELECT q.refilled_at + (1 - q.tokens) * q.rate_per / q.rate::double precision AS token_at) b
         WHERE (q.key_limit IS NOT NULL OR q.rate IS NOT NULL) AND q.rate IS NOT NULL AND NOT q.paused
           AND (next_due.queues IS NULL OR q.name = ANY (next_due.queues))
           AND q.tokens < 1 AND b.token_at > now() - interval '1 second'
           AND EXISTS (SELECT 1 FROM taskq.tasks t
                       WHERE t.queue = q.name AND t.status = 'QUEUED' AND t.scheduled_at <= now())))
$$;

COMMENT ON FUNCTION taskq.next_due(text[]) IS
    'When the next scheduled QUEUED task of the given queues (NULL: all) falls due, or the next token of a rate-limited queue with due tasks arrives (also when it came less than a second ago); NULL when neither. Idle workers sleep until then.';

COMMIT;

DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_scheduled_later;
