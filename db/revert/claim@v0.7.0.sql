-- Revert taskq:claim from pg (to v0.4.0): claim_next and next_due as they were
BEGIN;

SET LOCAL ROLE taskq_owner;

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
    -- The moment of the claim, not the start of its transaction: a claim made late in a long
    -- transaction gets the whole lease it asks for. A variable, so that the statement compares
    -- with a parameter, as the index conditions need, not a volatile call per row.
    moment timestamptz;
BEGIN
    IF claim_next.batch_size IS NULL OR claim_next.batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, not %', coalesce(claim_next.batch_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'batch_size';
    END IF;
    IF claim_next.lease IS NULL OR claim_next.lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be a positive interval, not %', coalesce(claim_next.lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'lease';
    END IF;
    PERFORM taskq._check_until(clock_timestamp(), claim_next.lease, 'lease', 'lease');
    -- FOR KEY SHARE: an unregister_worker of this worker waits for the claim to commit (and then
    -- hands back what it took), or has committed and the claim sees no worker; without the lock a
    -- claim that read the row just before it was deleted went on to take tasks for it.
    PERFORM 1 FROM taskq.workers w WHERE w.id = claim_next.worker_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', claim_next.worker_id
            USING ERRCODE = 'no_data_found', TABLE = 'workers',
                  DETAIL = jsonb_build_object('worker_id', claim_next.worker_id)::text,
                  HINT = 'register it with taskq.register_worker() first';
    END IF;

    -- Recovery never depends on a particular worker being alive: every claim rescues first.
    PERFORM taskq.rescue_expired();
    PERFORM pg_advisory_xact_lock_shared(taskq._claim_lock_key(), 1);
    -- after the rescue, so that the tasks it made due now are due for this claim
    moment := clock_timestamp();

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
            -- Any name: the queue's best due tasks, read in the order of tasks_claimable.
            SELECT t.id, t.queue, t.priority, t.scheduled_at
            FROM capacity c
            CROSS JOIN LATERAL (
                SELECT t.id, t.queue, t.priority, t.scheduled_at FROM taskq.tasks t
                WHERE claim_next.names IS NULL
                  AND t.queue = c.queue AND t.status = 'QUEUED' AND t.scheduled_at <= moment
                ORDER BY t.priority DESC, t.scheduled_at, t.id
                LIMIT c.free
                FOR UPDATE SKIP LOCKED
            ) t
            UNION ALL
            -- Given names: the best due tasks of each name, read in the order of
            -- tasks_claimable_by_name, so that tasks of other names at the head of the queue
            -- are never read; the best of those over all names are taken below. status <=
            -- 'QUEUED' is status = 'QUEUED' (the first value of the enum) in the form of that
            -- index's predicate, which tasks_claimable's does not follow from.
            SELECT t.id, t.queue, t.priority, t.scheduled_at
            FROM capacity c
            CROSS JOIN (SELECT DISTINCT n.name FROM unnest(claim_next.names) AS n (name)) n
            CROSS JOIN LATERAL (
                SELECT t.id, t.queue, t.priority, t.scheduled_at FROM taskq.tasks t
                WHERE t.queue = c.queue AND t.name = n.name AND t.status <= 'QUEUED' AND t.scheduled_at <= moment
                ORDER BY t.priority DESC, t.scheduled_at, t.id
                LIMIT c.free
                FOR UPDATE SKIP LOCKED
            ) t
        ), ranked AS (
            SELECT cd.id, cd.queue, cd.priority, cd.scheduled_at,
                   row_number() OVER (PARTITION BY cd.queue ORDER BY cd.priority DESC, cd.scheduled_at, cd.id) AS rank
            FROM candidate cd
        ), picked AS (
            -- at most a queue's free slots from each queue, then the batch_size best over all;
            -- what a queue gives is the head of its ranking, so rank pairs it with a slot
            SELECT r.id, r.queue, r.rank
            FROM ranked r
            JOIN capacity c ON c.queue = r.queue
            WHERE r.rank <= c.free
            ORDER BY r.priority DESC, r.scheduled_at, r.id
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
                started_at = moment,
                finished_at = NULL,
                worker_id = claim_next.worker_id,
                lease_token = gen_random_uuid(),
                lease_expires_at = moment + claim_next.lease,
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
    -- Tasks this claim locked but did not take (a full batch drawn from several queues, or
    -- from several names) were skipped by concurrent claims: wake the workers so that one of
    -- them takes them now.
    PERFORM pg_notify('taskq', q) FROM unnest(left_behind) AS q;
    RETURN;
END;
$$;

COMMENT ON FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer) IS
    'Takes up to batch_size due QUEUED tasks (of the given names; NULL = any) of unpaused queues with a free slot (HIGH first, then earliest scheduled_at, then oldest), marks them RUNNING with a lease from the moment of the call and a fresh lease_token, and returns them. P0002 for an unregistered worker; 22023 batch_size < 1 or lease not positive; 22008 a lease that ends after 9999.';

CREATE OR REPLACE FUNCTION taskq.next_due(queues text[] DEFAULT NULL)
RETURNS timestamptz
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    -- Only future times: due tasks that wait for a slot or a resumed queue are announced by NOTIFY.
    SELECT t.scheduled_at FROM taskq.tasks t
    WHERE t.status = 'QUEUED' AND t.scheduled_at > now()
      AND (next_due.queues IS NULL OR t.queue = ANY (next_due.queues))
    ORDER BY t.scheduled_at
    LIMIT 1
$$;

COMMENT ON FUNCTION taskq.next_due(text[]) IS
    'When the next scheduled QUEUED task of the given queues (NULL: all) falls due; NULL when there is none. Idle workers sleep until then.';

COMMIT;
