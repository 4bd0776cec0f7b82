-- Revert taskq:claim from pg: back to v0.1.0's claim_next (with the settings of claim_index_order).
BEGIN;

DROP FUNCTION taskq.rescue_expired();
DROP FUNCTION taskq._rescue_expired(timestamptz);

CREATE FUNCTION taskq.rescue_expired()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    rescued integer := 0;
    task record;
BEGIN
    FOR task IN
        -- SKIP LOCKED: a task being completed, failed or rescued right now is left to that call,
        -- and concurrent claims (which all rescue lazily) never wait for one another here.
        WITH expired AS (
            SELECT t.id, t.slot FROM taskq.tasks t
            WHERE t.status = 'RUNNING' AND t.lease_expires_at < now()
            FOR UPDATE SKIP LOCKED
        )
        UPDATE taskq.tasks t
        SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
            scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                                THEN now() ELSE t.scheduled_at END,
            finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                               THEN NULL ELSE now() END,
            last_error = format('lease expired at %s: worker %s stopped heartbeating', t.lease_expires_at, t.worker_id),
            errors = t.errors || jsonb_build_object(
                'attempt', t.attempts, 'at', now(),
                'error', format('lease expired at %s: worker %s stopped heartbeating', t.lease_expires_at, t.worker_id)),
            lease_token = NULL,
            lease_expires_at = NULL
        FROM expired e
        WHERE t.id = e.id
        RETURNING t.queue, e.slot
    LOOP
        PERFORM taskq._release_slot(task.queue, task.slot);
        rescued := rescued + 1;
    END LOOP;
    RETURN rescued;
END;
$$;

COMMENT ON FUNCTION taskq.rescue_expired() IS
    'Sends RUNNING tasks whose lease ran out back to QUEUED (due now; the lost attempt counts), or to FAILED when no attempt is left. Returns how many. claim_next calls it too.';

CREATE OR REPLACE FUNCTION taskq.claim_next(
    worker_id uuid,
    queues text[] DEFAULT NULL,
    names text[] DEFAULT NULL,
    lease interval DEFAULT '30 seconds',
    batch_size integer DEFAULT 1
)
RETURNS SETOF taskq.tasks
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
-- the settings of the change claim_index_order: a CREATE OR REPLACE sets them afresh
SET enable_sort = off
SET jit = off
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
AS $$
DECLARE
    row record;
    claimed taskq.tasks;
    left_behind text[];
BEGIN
    IF claim_next.batch_size IS NULL OR claim_next.batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, not %', coalesce(claim_next.batch_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF claim_next.lease IS NULL OR claim_next.lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be a positive interval, not %', coalesce(claim_next.lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM taskq.workers w WHERE w.id = claim_next.worker_id) THEN
        RAISE EXCEPTION 'worker % is not registered', claim_next.worker_id
            USING ERRCODE = 'no_data_found', HINT = 'register it with taskq.register_worker() first';
    END IF;

    -- Recovery never depends on a particular worker being alive: every claim rescues first.
    PERFORM taskq.rescue_expired();
    PERFORM pg_advisory_xact_lock_shared(taskq._claim_lock_key(), 1);

    -- One statement takes slots and tasks together. Per open queue it locks up to batch_size
    -- free slot rows, then at most that many of the queue's best due tasks, both with
    -- FOR UPDATE SKIP LOCKED, so concurrent claims skip each other's rows instead of waiting;
    -- then it keeps the batch_size best over all queues and pairs each with a slot of its queue.
    FOR row IN
        WITH open_queue AS (
            SELECT q.name, q.concurrency FROM taskq.queues q
            WHERE NOT q.paused AND (claim_next.queues IS NULL OR q.name = ANY (claim_next.queues))
        ), free_slot AS (
            SELECT oq.name AS queue, s.id AS slot,
                   row_number() OVER (PARTITION BY oq.name ORDER BY s.id) AS rank
            FROM open_queue oq
            CROSS JOIN LATERAL (
                SELECT s.id FROM taskq.slots s
                WHERE s.queue = oq.name AND s.task_id IS NULL
                ORDER BY s.id
                LIMIT claim_next.batch_size
                FOR UPDATE SKIP LOCKED
            ) s
            WHERE oq.concurrency IS NOT NULL
        ), capacity AS (
            SELECT fs.queue, count(*) AS free FROM free_slot fs GROUP BY fs.queue
            UNION ALL
            SELECT oq.name, claim_next.batch_size FROM open_queue oq WHERE oq.concurrency IS NULL
        ), candidate AS (
            SELECT t.id, t.queue, t.priority, t.scheduled_at
            FROM capacity c
            CROSS JOIN LATERAL (
                SELECT t.id, t.queue, t.priority, t.scheduled_at FROM taskq.tasks t
                WHERE t.queue = c.queue AND t.status = 'QUEUED' AND t.scheduled_at <= now()
                  AND (claim_next.names IS NULL OR t.name = ANY (claim_next.names))
                ORDER BY t.priority DESC, t.scheduled_at, t.id
                LIMIT c.free
                FOR UPDATE SKIP LOCKED
            ) t
        ), picked AS (
            SELECT cd.id, cd.queue,
                   row_number() OVER (PARTITION BY cd.queue ORDER BY cd.priority DESC, cd.scheduled_at, cd.id) AS rank
            FROM candidate cd
            ORDER BY cd.priority DESC, cd.scheduled_at, cd.id
            LIMIT claim_next.batch_size
        ), assigned AS (
            SELECT p.id, fs.slot FROM picked p
            LEFT JOIN free_slot fs ON fs.queue = p.queue AND fs.rank = p.rank
        ), taken AS (
            UPDATE taskq.slots s SET task_id = a.id FROM assigned a WHERE s.id = a.slot
        ), started AS (
            UPDATE taskq.tasks t
            SET status = 'RUNNING',
                attempts = t.attempts + 1,
                started_at = now(),
                finished_at = NULL,
                worker_id = claim_next.worker_id,
                lease_token = gen_random_uuid(),
                lease_expires_at = now() + claim_next.lease,
                slot = a.slot
            FROM assigned a
            WHERE t.id = a.id
            RETURNING t.*
        )
        SELECT st AS task,
               (SELECT array_agg(DISTINCT cd.queue) FROM candidate cd
                WHERE cd.id NOT IN (SELECT p.id FROM picked p)) AS left_behind
        FROM started st
        ORDER BY st.priority DESC, st.scheduled_at, st.id
    LOOP
        claimed := row.task;
        left_behind := row.left_behind;
        RETURN NEXT claimed;
    END LOOP;
    -- Tasks this claim locked but did not take (a full batch drawn from several queues) were
    -- skipped by concurrent claims: wake the workers so that one of them takes them now.
    PERFORM pg_notify('taskq', q) FROM unnest(left_behind) AS q;
    RETURN;
END;
$$;

COMMENT ON FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer) IS
    'Takes up to batch_size due QUEUED tasks of unpaused queues with a free slot (HIGH first, then earliest scheduled_at, then oldest), marks them RUNNING with a lease and a fresh lease_token, and returns them. P0002 for an unregistered worker.';

DROP INDEX taskq.tasks_claimable_by_name;

COMMIT;
