-- Revert taskq:claim from pg (to v0.8.0): claim_next and _rescue_expired as they were
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
    -- to wake once the claim has committed: left behind, or skipped for another claim's lock
    to_notify text[];
    -- the open queues of the claim that have a key limit (NULL: none), and per round the keys
    -- locked (lock_keys[i] of queue lock_queues[i]), as the statement reads them
    limited text[];
    lock_queues text[];
    lock_keys text[];
    keyed record;
    key text;
    seen text[];
    -- per key seen: the room left for the tasks walked (0: full, or another claim's)
    seen_room bigint[];
    place integer;
    full_keys text[];
    running_keys text[];
    running_counts bigint[];
    room bigint;
    -- per round: how many the claim still wants, took, and dropped for a key's room
    need integer := claim_next.batch_size;
    took integer;
    key_dropped bigint;
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

    SELECT array_agg(q.name ORDER BY q.name) INTO limited FROM taskq.queues q
    WHERE q.key_limit IS NOT NULL AND NOT q.paused AND (claim_next.queues IS NULL OR q.name = ANY (claim_next.queues));

    LOOP
        lock_queues := NULL;
        lock_keys := NULL;
        -- The keys to draw from, locked (see the header): per key-limited queue, the due keyed
        -- tasks in claim order, past the keys full now, until the keys locked have room for
        -- what the claim still wants.
        FOR keyed IN SELECT q.name, q.key_limit FROM taskq.queues q WHERE q.name = ANY (limited) ORDER BY q.name LOOP
            SELECT array_agg(r.key) FILTER (WHERE r.running >= keyed.key_limit), array_agg(r.key), array_agg(r.running)
            INTO full_keys, running_keys, running_counts
            FROM (SELECT t.concurrency_key AS key, count(*) AS running FROM taskq.tasks t
                  WHERE t.queue = keyed.name AND t.status = 'RUNNING' AND t.concurrency_key IS NOT NULL
                  GROUP BY t.concurrency_key) r;
            room := 0;
            seen := '{}';
            seen_room := '{}';
            FOR key IN
                SELECT t.concurrency_key FROM taskq.tasks t
                WHERE t.queue = keyed.name AND t.status = 'QUEUED' AND t.concurrency_key IS NOT NULL
                  AND t.scheduled_at <= moment AND t.concurrency_key <> ALL (coalesce(full_keys, '{}'))
                  AND (claim_next.names IS NULL OR t.name = ANY (claim_next.names))
                ORDER BY t.priority DESC, t.scheduled_at, t.id
            LOOP
                place := array_position(seen, key);
                IF place IS NULL THEN
                    seen := seen || key;
                    place := cardinality(seen);
                    IF pg_try_advisory_xact_lock(taskq._key_lock(keyed.name, key)) THEN
                        lock_queues := lock_queues || keyed.name;
                        lock_keys := lock_keys || key;
                        seen_room := seen_room
                            || (keyed.key_limit - coalesce(running_counts[array_position(running_keys, key)], 0));
                    ELSE
                        seen_room := seen_room || 0::bigint;
                        to_notify := to_notify || keyed.name;
                    END IF;
                END IF;
                -- this task fits in its key's room: one more the keys locked can give
                IF seen_room[place] > 0 THEN
                    seen_room[place] := seen_room[place] - 1;
                    room := room + 1;
                    EXIT WHEN room >= need;
                END IF;
            END LOOP;
        END LOOP;

        -- One statement takes slots and tasks together. Per open queue it locks up to batch_size
        -- free slot rows, then at most that many of the queue's best due tasks, both with
        -- FOR UPDATE SKIP LOCKED, so concurrent claims skip each other's rows instead of waiting;
        -- then it keeps the batch_size best over all queues and pairs each with a slot of its queue.
        took := 0;
        key_dropped := 0;
        left_behind := NULL;
        FOR row IN
            WITH open_queue AS (
                SELECT q.name, q.concurrency, q.key_limit, q.rate IS NOT NULL AS rated FROM taskq.queues q
                WHERE NOT q.paused AND (claim_next.queues IS NULL OR q.name = ANY (claim_next.queues))
            ), free_slot AS (
                SELECT oq.name AS queue, s.id AS slot,
                       row_number() OVER (PARTITION BY oq.name ORDER BY s.id) AS rank
                FROM open_queue oq
                CROSS JOIN LATERAL (
                    SELECT s.id FROM taskq.slots s
                    WHERE s.queue = oq.name AND s.task_id IS NULL
                    ORDER BY s.id
                    LIMIT need
                    FOR UPDATE SKIP LOCKED
                ) s
                WHERE oq.concurrency IS NOT NULL
            ), bucket AS (
                -- the buckets of the rate-limited queues, refilled to the moment of the claim;
                -- one another claim is spending is skipped (its queue gets nothing this time)
                SELECT q.name AS queue, taskq._tokens(q, moment) AS tokens FROM taskq.queues q
                WHERE q.name IN (SELECT oq.name FROM open_queue oq WHERE oq.rated) AND q.rate IS NOT NULL
                FOR NO KEY UPDATE SKIP LOCKED
            ), capacity AS (
                -- a queue's free slots (or need), at most its bucket's whole tokens, and for a
                -- key-limited queue the keys locked for this round
                SELECT c.queue,
                       CASE WHEN oq.rated THEN least(c.free, floor(b.tokens)::bigint) ELSE c.free END AS free,
                       oq.key_limit,
                       CASE WHEN oq.key_limit IS NOT NULL
                            THEN (SELECT array_agg(l.key) FROM unnest(lock_queues, lock_keys) AS l (queue, key)
                                  WHERE l.queue = c.queue) END AS keys
                FROM (
                    SELECT fs.queue, count(*) AS free FROM free_slot fs GROUP BY fs.queue
                    UNION ALL
                    SELECT oq.name, need FROM open_queue oq WHERE oq.concurrency IS NULL
                ) c
                JOIN open_queue oq ON oq.name = c.queue
                LEFT JOIN bucket b ON b.queue = c.queue
                WHERE NOT oq.rated OR b.tokens >= 1
            ), candidate AS (
                -- Any name: the queue's best due tasks, read in the order of tasks_claimable.
                SELECT t.id, t.queue, t.priority, t.scheduled_at, t.concurrency_key
                FROM capacity c
                CROSS JOIN LATERAL (
                    SELECT t.id, t.queue, t.priority, t.scheduled_at, t.concurrency_key FROM taskq.tasks t
                    WHERE claim_next.names IS NULL
                      AND t.queue = c.queue AND t.status = 'QUEUED' AND t.scheduled_at <= moment
                      -- a key-limited queue's keyed tasks only of the keys locked
                      AND (c.key_limit IS NULL OR t.concurrency_key IS NULL OR t.concurrency_key = ANY (c.keys))
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
                SELECT t.id, t.queue, t.priority, t.scheduled_at, t.concurrency_key
                FROM capacity c
                CROSS JOIN (SELECT DISTINCT n.name FROM unnest(claim_next.names) AS n (name)) n
                CROSS JOIN LATERAL (
                    SELECT t.id, t.queue, t.priority, t.scheduled_at, t.concurrency_key FROM taskq.tasks t
                    WHERE t.queue = c.queue AND t.name = n.name AND t.status <= 'QUEUED' AND t.scheduled_at <= moment
                      AND (c.key_limit IS NULL OR t.concurrency_key IS NULL OR t.concurrency_key = ANY (c.keys))
                    ORDER BY t.priority DESC, t.scheduled_at, t.id
                    LIMIT c.free
                    FOR UPDATE SKIP LOCKED
                ) t
            ), key_room AS (
                -- the room of each key locked, counted after its lock was granted
                SELECT l.queue, l.key,
                       oq.key_limit - (SELECT count(*) FROM taskq.tasks t
                                       WHERE t.queue = l.queue AND t.concurrency_key = l.key AND t.status = 'RUNNING') AS free
                FROM unnest(lock_queues, lock_keys) AS l (queue, key)
                JOIN open_queue oq ON oq.name = l.queue
            ), eligible AS (
                -- at most a key's room of its tasks, the best first
                SELECT cd.id, cd.queue, cd.priority, cd.scheduled_at
                FROM (
                    SELECT cd.*, row_number() OVER (PARTITION BY cd.queue, cd.concurrency_key
                                                    ORDER BY cd.priority DESC, cd.scheduled_at, cd.id) AS key_rank
                    FROM candidate cd
                ) cd
                LEFT JOIN key_room kr ON kr.queue = cd.queue AND kr.key = cd.concurrency_key
                WHERE kr.key IS NULL OR cd.key_rank <= kr.free
            ), ranked AS (
                SELECT e.id, e.queue, e.priority, e.scheduled_at,
                       row_number() OVER (PARTITION BY e.queue ORDER BY e.priority DESC, e.scheduled_at, e.id) AS rank
                FROM eligible e
            ), picked AS (
                -- at most a queue's free slots from each queue, then the batch_size best over all;
                -- what a queue gives is the head of its ranking, so rank pairs it with a slot
                SELECT r.id, r.queue, r.rank
                FROM ranked r
                JOIN capacity c ON c.queue = r.queue
                WHERE r.rank <= c.free
                ORDER BY r.priority DESC, r.scheduled_at, r.id
                LIMIT need
            ), slot_list AS MATERIALIZED (
                -- each slot-limited queue's free slots locked, in rank order (MATERIALIZED: made once,
                -- not once for each task)
                SELECT fs.queue, array_agg(fs.slot ORDER BY fs.rank) AS slots FROM free_slot fs GROUP BY fs.queue
            ), assigned AS (
                -- a task of rank r in its queue takes the queue's r-th free slot (none: unlimited;
                -- no slot looked up at all when no queue of the claim has slots)
                SELECT p.id,
                       CASE WHEN EXISTS (SELECT FROM slot_list)
                            THEN (SELECT sl.slots[p.rank] FROM slot_list sl WHERE sl.queue = p.queue) END AS slot
                FROM picked p
            ), taking AS (
                -- what is taken as arrays in one row (see the header): every task, and the
                -- tasks given a slot beside their slots, in one order
                SELECT array_agg(a.id) AS ids,
                       array_agg(a.id) FILTER (WHERE a.slot IS NOT NULL) AS slotted,
                       array_agg(a.slot) FILTER (WHERE a.slot IS NOT NULL) AS slots
                FROM assigned a
            ), taken AS (
                UPDATE taskq.slots s
                SET task_id = (SELECT tk.slotted[array_position(tk.slots, s.id)] FROM taking tk)
                WHERE s.id = ANY ((SELECT tk.slots FROM taking tk)::bigint[])
            ), spent AS (
                UPDATE taskq.queues q
                SET tokens = b.tokens - n.taken, refilled_at = greatest(q.refilled_at, moment)
                FROM bucket b
                JOIN (SELECT p.queue, count(*) AS taken FROM picked p GROUP BY p.queue) n ON n.queue = b.queue
                WHERE q.name = b.queue
            ), started AS (
                UPDATE taskq.tasks t
                SET status = 'RUNNING',
                    attempts = t.attempts + 1,
                    started_at = moment,
                    finished_at = NULL,
                    worker_id = claim_next.worker_id,
                    lease_token = gen_random_uuid(),
                    lease_expires_at = moment + claim_next.lease,
                    slot = CASE WHEN (SELECT tk.slots IS NULL FROM taking tk) THEN NULL
                                ELSE (SELECT tk.slots[array_position(tk.slotted, t.id)] FROM taking tk) END
                WHERE t.id = ANY ((SELECT tk.ids FROM taking tk)::uuid[])
                RETURNING t.*
            )
            SELECT st AS task,
                   (SELECT array_agg(DISTINCT e.queue) FROM eligible e
                    WHERE e.id NOT IN (SELECT p.id FROM picked p)) AS left_behind,
                   CASE WHEN lock_keys IS NOT NULL
                        THEN (SELECT count(*) FROM candidate) - (SELECT count(*) FROM eligible) END AS key_dropped
            FROM started st
            ORDER BY st.priority DESC, st.scheduled_at, st.id
        LOOP
            claimed := row.task;
            left_behind := row.left_behind;
            key_dropped := coalesce(row.key_dropped, 0);
            took := took + 1;
            RETURN NEXT claimed;
        END LOOP;
        to_notify := to_notify || left_behind;
        -- Another round only when a key's room cut this one short (see the header).
        EXIT WHEN took = 0 OR took >= need OR key_dropped = 0;
        need := need - took;
    END LOOP;
    -- Tasks this claim locked but did not take (a full batch drawn from several queues, or
    -- from several names) were skipped by concurrent claims, and keys it skipped were another
    -- claim's: wake the workers so that one of them looks again now.
    PERFORM pg_notify('taskq', q) FROM (SELECT DISTINCT u.q FROM unnest(to_notify) AS u (q)) n (q);
    RETURN;
END;
$$;

COMMENT ON FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer) IS
    'Takes up to batch_size due QUEUED tasks (of the given names; NULL = any) of unpaused queues with a free slot (HIGH first, then earliest scheduled_at, then oldest), marks them RUNNING with a lease from the moment of the call and a fresh lease_token, and returns them. P0002 for an unregistered worker; 22023 batch_size < 1 or lease not positive; 22008 a lease that ends after 9999.';

CREATE OR REPLACE FUNCTION taskq._rescue_expired(now timestamptz)
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
            SELECT t.id FROM taskq.tasks t
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
        -- by the primary keys taken, never a join (see the header of claim)
        WHERE t.id = ANY (ARRAY(SELECT e.id FROM expired e))
        RETURNING t.queue, t.slot
    LOOP
        PERFORM taskq._release_slot(task.queue, task.slot);
        rescued := rescued + 1;
    END LOOP;
    RETURN rescued;
END;
$$;

COMMENT ON FUNCTION taskq._rescue_expired(timestamptz) IS
    'Internal (SECURITY INVOKER: the schema owner only): rescue_expired as of the moment now, for tests that move a lease''s clock without sleeping.';

COMMIT;
