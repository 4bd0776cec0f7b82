-- Deploy taskq:retention to pg
-- requires: queues, claim, workers, audit
--
-- Finished tasks are kept for a retention per queue and status, then removed; workers that
-- stopped heartbeating are removed; one call does both, one caller at a time.
--   taskq.queues.retain_completed / retain_failed / retain_cancelled: how long a finished task
--       of the queue is kept after its finished_at; NULL = for ever. Defaults: 7 days for
--       COMPLETED, 30 days for FAILED and CANCELLED (existing queues get them too).
--   taskq.set_retention(queue, completed, failed, cancelled, reason) returns taskq.queues;
--       creates the queue if new. An argument left out leaves that retention as it is; NULL
--       keeps for ever. 22023 for a negative or infinite retention or one over 100 years. An
--       admin act: one audit row (action set_retention, before and after the three retentions).
--   taskq.queue_retention: the view of each queue's retention.
--   taskq.prune(batch, reason) removes at most batch finished tasks past their queue's
--       retention, oldest first, and at most batch audit rows past theirs (an audit row is kept
--       as long as its queue keeps FAILED tasks, 30 days for a row of no queue or of a queue
--       without a row), and returns one row (completed, failed, cancelled, audit_rows): how many
--       of each it removed. Live tasks (QUEUED, PAUSED, RUNNING) are never removed. 22023 unless
--       1 <= batch <= 1e6. An admin act: one audit row (action prune, after = the counts).
--   taskq._prune(batch) does the removal; prune and maintain call it. The workers' maintenance
--       turn is no admin act and writes no audit row.
--   taskq.maintain(batch) removes dead workers (rescuing their tasks as rescue_expired does),
--       then prunes one batch (taskq._prune), and returns one row of what it did. Only one runs at a time:
--       a second returns at once with ran = false.
--
-- The prune reads tasks_finished (queue, status, finished_at) WHERE status >= 'COMPLETED' (built
-- without blocking writes by the next change, taskq:tasks_finished; until then it reads another
-- index, slower), one
-- range per queue and status, so that a prune that finds nothing reads a few index pages per
-- queue, whatever the history kept: tasks_status_id (status, id) with an id bound would read,
-- for a queue of short retention, every kept task of the queues of longer retention. A claim
-- never writes the index (its rows are not finished); each completion, failure for good or
-- cancellation inserts one entry.
-- Rows are taken FOR UPDATE SKIP LOCKED: a prune never waits for a claim, a retry or another
-- prune, and they never wait for it, except a retry of the very task being removed (it then
-- finds no task: P0002).
BEGIN;

ALTER TABLE taskq.queues
    ADD COLUMN retain_completed interval DEFAULT interval '7 days',
    ADD COLUMN retain_failed    interval DEFAULT interval '30 days',
    ADD COLUMN retain_cancelled interval DEFAULT interval '30 days';
COMMENT ON COLUMN taskq.queues.retain_completed IS 'how long a COMPLETED task is kept after it finished; NULL = for ever';
COMMENT ON COLUMN taskq.queues.retain_failed IS 'how long a FAILED task is kept after it finished; NULL = for ever';
COMMENT ON COLUMN taskq.queues.retain_cancelled IS 'how long a CANCELLED task is kept after it finished; NULL = for ever';

-- The default of set_retention's arguments: "leave as it is". The smallest interval there is,
-- which no one means as a retention (a negative one is refused anyway).
CREATE FUNCTION taskq._retention_unchanged() RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT interval '-178000000 years'
$$;

COMMENT ON FUNCTION taskq._retention_unchanged() IS
    'Internal: the default of set_retention''s arguments, meaning leave that retention as it is.';

CREATE FUNCTION taskq._check_retention(retention interval, field text)
RETURNS interval
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF _check_retention.retention IS NULL THEN
        RETURN NULL;
    ELSIF NOT isfinite(_check_retention.retention) THEN
        RAISE EXCEPTION '% retention must be finite (NULL keeps for ever), not %', _check_retention.field,
                _check_retention.retention
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _check_retention.field;
    ELSIF _check_retention.retention < interval '0' OR _check_retention.retention > interval '100 years' THEN
        RAISE EXCEPTION '% retention must be between 0 and 100 years (NULL keeps for ever), not %',
                _check_retention.field, _check_retention.retention
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _check_retention.field;
    END IF;
    RETURN _check_retention.retention;
END;
$$;

COMMENT ON FUNCTION taskq._check_retention(interval, text) IS
    'Internal: a retention (0 to 100 years, or NULL = for ever) as given; 22023 with COLUMN = field for a negative, infinite or larger one.';

CREATE FUNCTION taskq.set_retention(
    queue text,
    completed interval DEFAULT taskq._retention_unchanged(),
    failed interval DEFAULT taskq._retention_unchanged(),
    cancelled interval DEFAULT taskq._retention_unchanged(),
    reason text DEFAULT NULL
)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    unchanged interval := taskq._retention_unchanged();
    was taskq.queues;
    changed taskq.queues;
BEGIN
    IF set_retention.completed IS DISTINCT FROM unchanged THEN
        PERFORM taskq._check_retention(set_retention.completed, 'completed');
    END IF;
    IF set_retention.failed IS DISTINCT FROM unchanged THEN
        PERFORM taskq._check_retention(set_retention.failed, 'failed');
    END IF;
    IF set_retention.cancelled IS DISTINCT FROM unchanged THEN
        PERFORM taskq._check_retention(set_retention.cancelled, 'cancelled');
    END IF;
    PERFORM taskq._ensure_queue(set_retention.queue);
    SELECT q.* INTO was FROM taskq.queues q WHERE q.name = set_retention.queue FOR UPDATE;
    UPDATE taskq.queues q
    SET retain_completed = CASE WHEN set_retention.completed IS DISTINCT FROM unchanged
                                THEN set_retention.completed ELSE q.retain_completed END,
        retain_failed = CASE WHEN set_retention.failed IS DISTINCT FROM unchanged
                             THEN set_retention.failed ELSE q.retain_failed END,
        retain_cancelled = CASE WHEN set_retention.cancelled IS DISTINCT FROM unchanged
                                THEN set_retention.cancelled ELSE q.retain_cancelled END
    WHERE q.name = set_retention.queue
    RETURNING q.* INTO changed;
    PERFORM taskq._audit('set_retention', NULL, changed.name,
        jsonb_build_object('completed', was.retain_completed, 'failed', was.retain_failed,
                           'cancelled', was.retain_cancelled),
        jsonb_build_object('completed', changed.retain_completed, 'failed', changed.retain_failed,
                           'cancelled', changed.retain_cancelled),
        set_retention.reason);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.set_retention(text, interval, interval, interval, text) IS
    'For taskq_admin. Sets how long the queue keeps its COMPLETED, FAILED and CANCELLED tasks after they finished (0 to 100 years; NULL = for ever; an argument left out: unchanged); creates the queue if new; writes one audit row (set_retention) with the reason. 22023 for a negative, infinite or larger retention; 22004/22023 for a bad queue name; 22001 for a reason over 1000 characters.';

CREATE VIEW taskq.queue_retention AS
SELECT q.name AS queue, q.retain_completed AS completed, q.retain_failed AS failed,
       q.retain_cancelled AS cancelled
FROM taskq.queues q;

COMMENT ON VIEW taskq.queue_retention IS
    'For taskq_reader. Each queue''s retention of finished tasks by status; NULL = kept for ever.';

-- An audit row is kept as long as its queue keeps FAILED tasks (NULL: for ever), 30 days when
-- it names no queue or a queue without a row. Read from the oldest (audit_log_at), bounded by the
-- shortest retention there is, so that a prune that finds nothing reads a page or two.
CREATE FUNCTION taskq._prune_audit(now timestamptz, batch integer)
RETURNS bigint
LANGUAGE sql
VOLATILE
AS $$
    WITH doomed AS (
        SELECT a.id
        FROM taskq.audit_log a
        LEFT JOIN taskq.queues q ON q.name = a.queue
        WHERE a.at < _prune_audit.now - least(interval '30 days',
                                              (SELECT min(q2.retain_failed) FROM taskq.queues q2))
          AND a.at < _prune_audit.now - CASE WHEN q.name IS NULL THEN interval '30 days'
                                             ELSE q.retain_failed END
        ORDER BY a.at, a.id
        LIMIT _prune_audit.batch
        FOR UPDATE OF a SKIP LOCKED
    ), removed AS (
        DELETE FROM taskq.audit_log a WHERE a.id = ANY (ARRAY(SELECT d.id FROM doomed d))
        RETURNING 1
    )
    SELECT count(*) FROM removed
$$;

COMMENT ON FUNCTION taskq._prune_audit(timestamptz, integer) IS
    'Internal: removes at most batch audit rows older at now than their queue''s FAILED retention (NULL: kept for ever; 30 days for a row of no queue or of a queue without a row), oldest first, skipping locked rows; returns how many.';

CREATE FUNCTION taskq._prune(batch integer)
RETURNS TABLE (completed bigint, failed bigint, cancelled bigint, audit_rows bigint)
LANGUAGE plpgsql
VOLATILE
-- each range read in the order of tasks_finished, never the whole of it sorted
SET enable_sort = off
SET enable_bitmapscan = off
SET jit = off
AS $$
DECLARE
    moment timestamptz := clock_timestamp();
BEGIN
    IF _prune.batch IS NULL OR _prune.batch < 1 OR _prune.batch > 1000000 THEN
        RAISE EXCEPTION 'batch must be between 1 and 1000000, not %', coalesce(_prune.batch::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'batch';
    END IF;
    -- Per queue and status, the oldest finished tasks past that retention, read in the order of
    -- tasks_finished (status >= 'COMPLETED' states its predicate); a row locked by anyone is
    -- skipped, and one that changed status meanwhile (a retry) no longer matches when locked.
    RETURN QUERY
    WITH kept (queue, status, retention) AS (
        SELECT q.name, r.status, r.retention
        FROM taskq.queues q
        CROSS JOIN LATERAL (VALUES ('COMPLETED'::taskq.status, q.retain_completed),
                                   ('FAILED', q.retain_failed),
                                   ('CANCELLED', q.retain_cancelled)) AS r (status, retention)
        WHERE r.retention IS NOT NULL
    ), doomed AS (
        SELECT d.id
        FROM kept k
        CROSS JOIN LATERAL (
            SELECT t.id FROM taskq.tasks t
            WHERE t.queue = k.queue AND t.status = k.status AND t.status >= 'COMPLETED'
              AND t.finished_at < moment - k.retention
            ORDER BY t.finished_at
            LIMIT _prune.batch
            FOR UPDATE SKIP LOCKED
        ) d
        LIMIT _prune.batch
    ), removed AS (
        -- by the primary key, row by row: a join would read the whole table
        DELETE FROM taskq.tasks t WHERE t.id = ANY (ARRAY(SELECT d.id FROM doomed d))
        RETURNING t.status
    )
    SELECT count(*) FILTER (WHERE r.status = 'COMPLETED'),
           count(*) FILTER (WHERE r.status = 'FAILED'),
           count(*) FILTER (WHERE r.status = 'CANCELLED'),
           taskq._prune_audit(moment, _prune.batch)
    FROM removed r;
END;
$$;

COMMENT ON FUNCTION taskq._prune(integer) IS
    'Internal: removes at most batch finished tasks past their queue''s retention (oldest first), never a live one, never waiting for a lock, and at most batch audit rows past theirs (taskq._prune_audit); returns how many COMPLETED, FAILED and CANCELLED tasks and audit rows it removed. 22023 unless 1 <= batch <= 1000000.';

CREATE FUNCTION taskq.prune(batch integer DEFAULT 10000, reason text DEFAULT NULL)
RETURNS TABLE (completed bigint, failed bigint, cancelled bigint, audit_rows bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    done record;
BEGIN
    SELECT * INTO done FROM taskq._prune(prune.batch);
    PERFORM taskq._audit('prune', NULL, NULL, NULL,
        jsonb_build_object('completed', done.completed, 'failed', done.failed,
                           'cancelled', done.cancelled, 'audit_rows', done.audit_rows),
        prune.reason);
    RETURN QUERY SELECT done.completed, done.failed, done.cancelled, done.audit_rows;
END;
$$;

COMMENT ON FUNCTION taskq.prune(integer, text) IS
    'For taskq_admin. Removes at most batch finished tasks past their queue''s retention (oldest first), never a live one, never waiting for a lock, and at most batch audit rows past theirs (kept as long as their queue keeps FAILED tasks; 30 days without a queue); returns how many COMPLETED, FAILED and CANCELLED tasks and audit rows it removed (a full batch: call again); writes one audit row (prune) with the counts and the reason. 22023 unless 1 <= batch <= 1000000; 22001 for a reason over 1000 characters.';

-- A worker is dead when its last heartbeat is older than ten of its leases, and at least 5
-- minutes (a live worker beats every third of its lease, so it would have to miss 30 beats in a
-- row), and it holds no lease that has not ended: a client that claimed with a long lease and
-- never beats keeps its tasks until their leases end, as the lease promised. A worker that
-- never beat counts with the default lease, 30 seconds.
CREATE FUNCTION taskq._remove_dead_workers(now timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    removed integer;
BEGIN
    -- SKIP LOCKED: a worker row locked by a claim (FOR KEY SHARE) or a heartbeat is alive.
    -- Its RUNNING tasks' leases have all ended: _rescue_expired then rescues them with every
    -- other expired lease (index tasks_running_by_worker).
    WITH dead AS (
        SELECT w.id
        FROM taskq.workers w
        WHERE w.heartbeat_at + greatest(interval '5 minutes', 10 * coalesce(w.lease, interval '30 seconds'))
              < _remove_dead_workers.now
          AND NOT EXISTS (SELECT 1 FROM taskq.tasks t
                          WHERE t.worker_id = w.id AND t.status = 'RUNNING'
                            AND t.lease_expires_at >= _remove_dead_workers.now)
        FOR UPDATE OF w SKIP LOCKED
    ), gone AS (
        DELETE FROM taskq.workers w USING dead d WHERE w.id = d.id
        RETURNING w.id
    )
    SELECT count(*) INTO removed FROM gone;
    RETURN removed;
END;
$$;

COMMENT ON FUNCTION taskq._remove_dead_workers(timestamptz) IS
    'Internal: removes the workers whose last heartbeat is older than greatest(5 minutes, 10 x their lease) at now and that hold no lease still running at now; returns how many workers. _rescue_expired rescues their tasks, whose leases have ended.';

-- The advisory lock of maintain: (the key of the claim lock, 2).
CREATE FUNCTION taskq.maintain(batch integer DEFAULT 10000)
RETURNS TABLE (ran boolean, workers_removed integer, tasks_rescued integer,
               completed bigint, failed bigint, cancelled bigint, audit_rows bigint, more boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    moment timestamptz := clock_timestamp();
    pruned record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(taskq._claim_lock_key(), 2) THEN
        RETURN QUERY SELECT false, 0, 0, 0::bigint, 0::bigint, 0::bigint, 0::bigint, false;
        RETURN;
    END IF;
    workers_removed := taskq._remove_dead_workers(moment);
    tasks_rescued := taskq._rescue_expired(moment);
    SELECT * INTO pruned FROM taskq._prune(maintain.batch);
    RETURN QUERY SELECT true, workers_removed, tasks_rescued, pruned.completed, pruned.failed,
        pruned.cancelled, pruned.audit_rows,
        pruned.completed + pruned.failed + pruned.cancelled >= maintain.batch
            OR pruned.audit_rows >= maintain.batch;
END;
$$;

COMMENT ON FUNCTION taskq.maintain(integer) IS
    'For taskq_worker (the workers run it in turn) and pg_cron. Removes dead workers (heartbeat older than greatest(5 minutes, 10 x their lease)), rescues expired leases as rescue_expired does, and prunes at most batch finished tasks and at most batch audit rows past retention (taskq._prune; no audit row of its own). One at a time: while one runs, another returns at once with ran = false. more = a full batch was pruned: call again. 22023 unless 1 <= batch <= 1000000.';

COMMIT;
