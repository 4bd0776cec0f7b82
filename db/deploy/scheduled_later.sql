-- Deploy taskq:scheduled_later to pg
-- requires: claim
-- requires: lean_indexes
--
-- One index entry fewer per enqueue. tasks_scheduled (scheduled_at) WHERE status = 'QUEUED'
-- held every QUEUED task, for one reader: taskq.next_due, which asks when the next task due
-- later than now falls due. A task enqueued for now (scheduled_at = now(), the default, which is
-- also its created_at) is due at once and never that answer; it gave the index an entry all the
-- same, a tenth of enqueue_many's time in the server. tasks_scheduled_later holds the QUEUED tasks
-- whose scheduled_at lies after their created_at: those enqueued for later, and those a retry's
-- backoff, a rescue or a retry_task put back in the queue. next_due states the same predicate,
-- which a task due after now always meets (its created_at is never later than now, unless the
-- server's clock steps back), so that the planner may read the index. Its part for rate-limited
-- queues no longer reads the due tasks of every queue: it looks for one due task of each
-- rate-limited queue it considers, in the order of tasks_claimable (before: 0.4 ms a call beside
-- 20,000 due tasks of a queue without a rate, 3 ms once ANALYZE had counted them; after: 0.1 to
-- 0.17 ms).
--
-- CONCURRENTLY, so no transaction block (as lean_indexes): no enqueue, claim or outcome waits
-- while the new index is built over the tasks. A build that failed half-way leaves an invalid
-- index, dropped first; next_due changes in a transaction of its own.
SELECT 'DROP INDEX CONCURRENTLY taskq.tasks_scheduled_later'
FROM pg_catalog.pg_index i
WHERE i.indexrelid = to_regclass('taskq.tasks_scheduled_later') AND NOT i.indisvalid
\gexec

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_scheduled_later ON taskq.tasks (scheduled_at)
    WHERE status = 'QUEUED' AND scheduled_at > created_at;

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
        -- scheduled_at > created_at: the predicate of tasks_scheduled_later, which every task
        -- due after now meets
        (SELECT t.scheduled_at FROM taskq.tasks t
         WHERE t.status = 'QUEUED' AND t.scheduled_at > t.created_at AND t.scheduled_at > now()
           AND (next_due.queues IS NULL OR t.queue = ANY (next_due.queues))
         ORDER BY t.scheduled_at
         LIMIT 1),
        -- a due task of the queue found by a LATERAL subquery with LIMIT, which the planner
        -- runs per rate-limited queue: as an EXISTS it became a semi-join, and the plan of the
        -- function's statement (which does not know the queues) read every due task into a hash
        -- before it looked at a queue. In the order of tasks_claimable, so that the search is
        -- one of that index, not a scan of the table that stops at the first due task of the
        -- queue (which, for a queue of few tasks, read every other queue's first)
        (SELECT min(b.token_at)
         FROM taskq.queues q
         CROSS JOIN LATERAL (SELECT q.refilled_at + (1 - q.tokens) * q.rate_per / q.rate::double precision AS token_at) b
         CROSS JOIN LATERAL (SELECT FROM taskq.tasks t
                             WHERE t.queue = q.name AND t.status = 'QUEUED' AND t.scheduled_at <= now()
                             ORDER BY t.priority DESC, t.scheduled_at
                             LIMIT 1) due
         WHERE (q.key_limit IS NOT NULL OR q.rate IS NOT NULL) AND q.rate IS NOT NULL AND NOT q.paused
           AND (next_due.queues IS NULL OR q.name = ANY (next_due.queues))
           AND q.tokens < 1 AND b.token_at > now() - interval '1 second'))
$$;

COMMENT ON FUNCTION taskq.next_due(text[]) IS
    'When the next scheduled QUEUED task of the given queues (NULL: all) falls due, or the next token of a rate-limited queue with due tasks arrives (also when it came less than a second ago); NULL when neither. Idle workers sleep until then.';

COMMIT;

DROP INDEX CONCURRENTLY IF EXISTS taskq.tasks_scheduled;
