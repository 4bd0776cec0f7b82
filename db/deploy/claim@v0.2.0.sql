-- Deploy taskq:claim to pg (reworked after v0.1.0)
-- requires: claim@v0.1.0, claim_index_order, uuid_v7
--
-- claim_next(worker_id, queues, names, lease, batch_size) with names given reads each name's
-- tasks through an index that leads with queue and name (tasks_claimable_by_name), so that a
-- worker that handles only some names does not read the tasks of other names ahead of them
-- (make bench: 100,000 such tasks ahead of the handled ones). It keeps the order (HIGH first,
-- then earliest scheduled_at, then oldest) among the names given, and the settings of
-- claim_index_order, which a CREATE OR REPLACE sets afresh.
-- claim_next and rescue_expired count by the moment of the call (clock_timestamp()), not by the
-- start of the transaction (now()): the due time, started_at and the lease of a claim, and the
-- expiry that rescue compares with. A claim late in a long transaction got a lease shorter than
-- it asked for, and the task could be rescued and claimed again while it ran.
-- claim_next raises what v0.1.0's did, and 22008 for a lease that ends after 9999-12-31 UTC.
-- rescue_expired() keeps its signature and calls taskq._rescue_expired(now): a lease ran out
-- when it ends before now, so that tests move a lease's clock without sleeping. The internal
-- function is SECURITY INVOKER and the tables are granted to no one, so only the schema's owner
-- (and the public functions, which run as it) can give it a moment: a client cannot end other
-- workers' leases early by passing a moment in the future.
BEGIN;

-- The claim of given names reads only this partial index, name by name.
CREATE INDEX tasks_claimable_by_name ON taskq.tasks (queue, name, priority DESC, scheduled_at, id)
    WHERE status = 'QUEUED';

DROP FUNCTION taskq.rescue_expired();

CREATE FUNCTION taskq._rescue_expired(now timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = taskq, pg_temp
AS $$
DECLARE
    rescued integer := 0;
    task record;
    moment timestamptz := _rescue_expired.now;
BEGIN
    FOR task IN
        -- SKIP LOCKED: a task being completed, failed or rescued right now is left to that call,
        -- and concurrent claims (which all rescue lazily) never wait for one another here.
        WITH expired AS (
            SELECT t.id, t.slot FROM taskq.tasks t
            WHERE t.status = 'RUNNING' AND t.lease_expires_at < moment
            FOR UPDATE SKIP LOCKED
        )
        UPDATE taskq.tasks t
        SET status = taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts),
            scheduled_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                                THEN moment ELSE t.scheduled_at END,
            finished_at = CASE WHEN taskq._after_attempt(t.cancel_requested, t.attempts, t.max_attempts) = 'QUEUED'
                               THEN NULL ELSE moment END,
            last_error = format('lease expired at %s: worker %s stopped heartbeating', t.lease_expires_at, t.worker_id),
            errors = t.errors || jsonb_build_object(
                'attempt', t.attempts, 'at', moment,
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

COMMENT ON FUNCTION taskq._rescue_expired(timestamptz) IS
    'Internal (SECURITY INVOKER: the schema owner only): rescue_expired as of the moment now, for tests that move a lease''s clock without sleeping.';

CREATE FUNCTION taskq.rescue_expired()
RETURNS integer
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    -- the moment of the call, not the start of its transaction: leases end in that clock
    SELECT taskq._rescue_expired(clock_timestamp())
$$;

COMMENT ON FUNCTION taskq.rescue_expired() IS
    'Sends RUNNING tasks whose lease ran out (by the moment of the call) back to QUEUED (due now; the lost attempt counts), or to FAILED when no attempt is left. Returns how many. claim_next calls it too.';

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
    IF NOT EXISTS (SELECT 1 FROM taskq.workers w WHERE w.id = claim_next.worker_id) THEN
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
            -- are never read; the best of those over all names are taken below.
            SELECT t.id, t.queue, t.priority, t.scheduled_at
            FROM capacity c
            CROSS JOIN (SELECT DISTINCT n.name FROM unnest(claim_next.names) AS n (name)) n
            CROSS JOIN LATERAL (
                SELECT t.id, t.queue, t.priority, t.scheduled_at FROM taskq.tasks t
                WHERE t.queue = c.queue AND t.name = n.name AND t.status = 'QUEUED' AND t.scheduled_at <= moment
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

COMMIT;
