-- Deploy taskq:queue_limits to pg
-- requires: task_options
--
-- Two limits of a queue, on top of its slots, both kept by claim_next (the change claim after
-- this one) and both admin acts with one audit row each (taskq._audit), in the style of
-- set_concurrency:
--   taskq.set_key_concurrency(queue, key_limit, reason) returns taskq.queues: at most key_limit
--       tasks with one concurrency_key run at once in the queue, across all workers; tasks
--       without a key are not limited by it. NULL removes the limit. 22023 unless 1 <= key_limit
--       <= 10000. The queue is created if new.
--   taskq.set_rate_limit(queue, rate, per, burst, reason) returns taskq.queues: claims take at
--       most rate tasks per period per (an interval, default 1 second) from the queue, across
--       all workers, with bursts of at most burst (default: rate, rounded up; at least 1). A token
--       bucket on the queue's row (tokens, refilled_at), refilled by the database clock and
--       spent by the claim in its statement. NULL rate removes the limit. 22023 for a rate that
--       is not a positive finite number of at most 1,000,000, a per outside 1 millisecond .. 1
--       year, a burst outside 1 .. 1,000,000, a rate of less than one task a year. Changing the
--       rate keeps the tokens the bucket holds (at most the new burst); a new limit starts full.
-- The running tasks of a key are counted, not kept in a counter: a task holds its key's place
-- exactly while it is RUNNING, so every way a task stops running (complete, fail, the _many
-- forms, the rescue of an expired lease, unregister_worker's hand-back, a cancellation the
-- worker carries out) gives the place back with no code of its own. The index
-- tasks_running_keyed counts them; tasks_keyed_claimable reads the due keyed tasks in claim
-- order. Both hold only tasks with a key: tasks without one never write them.
-- Changing the key limit while tasks run interrupts none: after lowering it, a key's new claims
-- wait until fewer than the new limit of its tasks run; after raising or removing it, claims
-- take more at once (the queue is notified). Both acts take the claims' advisory lock
-- exclusively, as set_concurrency does, so that no claim in flight works from the old value.
-- taskq.queue_stats gains the columns key_concurrency, rate, rate_per, rate_burst.
BEGIN;

SET LOCAL ROLE taskq_owner;

ALTER TABLE taskq.queues
    ADD COLUMN key_limit integer CONSTRAINT queues_key_limit_positive CHECK (key_limit >= 1),
    ADD COLUMN rate numeric CONSTRAINT queues_rate_positive CHECK (rate > 0 AND rate <= 1000000),
    ADD COLUMN rate_per interval CONSTRAINT queues_rate_per_positive CHECK (rate_per > interval '0'),
    ADD COLUMN rate_burst integer CONSTRAINT queues_rate_burst_positive CHECK (rate_burst >= 1),
    ADD COLUMN tokens numeric,
    ADD COLUMN refilled_at timestamptz,
    ADD CONSTRAINT queues_rate_complete CHECK (
        (rate IS NULL) = (rate_per IS NULL) AND (rate IS NULL) = (rate_burst IS NULL)
        AND (rate IS NULL) = (tokens IS NULL) AND (rate IS NULL) = (refilled_at IS NULL));

COMMENT ON COLUMN taskq.queues.key_limit IS
    'At most this many tasks with one concurrency_key run at once (NULL: no key limit); set_key_concurrency.';
COMMENT ON COLUMN taskq.queues.rate IS 'Claims take at most rate tasks per rate_per (NULL: no rate limit); set_rate_limit.';
COMMENT ON COLUMN taskq.queues.rate_burst IS 'The most tokens the bucket holds: the largest burst of claims.';
COMMENT ON COLUMN taskq.queues.tokens IS 'The tokens the bucket held at refilled_at; it gains rate per rate_per since.';

-- the claim's quick test of whether any of its queues has a limit to keep: an index of the few
-- limited queues, empty when none is
CREATE INDEX queues_limited ON taskq.queues (name) WHERE key_limit IS NOT NULL OR rate IS NOT NULL;

CREATE INDEX tasks_running_keyed ON taskq.tasks (queue, concurrency_key)
    WHERE status = 'RUNNING' AND concurrency_key IS NOT NULL;
CREATE INDEX tasks_keyed_claimable ON taskq.tasks (queue, priority DESC, scheduled_at, id)
    WHERE status = 'QUEUED' AND concurrency_key IS NOT NULL;

-- The advisory lock (64-bit key) a claim holds while it decides how many tasks of a key to take.
CREATE FUNCTION taskq._key_lock(queue text, key text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT hashtextextended(length(_key_lock.queue) || ':' || _key_lock.queue || _key_lock.key, 1952543595)
$$;

COMMENT ON FUNCTION taskq._key_lock(text, text) IS
    'Internal: the advisory lock key of a (queue, concurrency_key): a claim holds it until it commits; two keys that share one only skip each other more often.';

-- The tokens of a bucket at a moment: what it held, plus what it gained since, at most burst.
CREATE FUNCTION taskq._tokens(q taskq.queues, moment timestamptz)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT least(_tokens.q.rate_burst::numeric,
                 _tokens.q.tokens + _tokens.q.rate / extract(epoch FROM _tokens.q.rate_per)
                                    * greatest(extract(epoch FROM _tokens.moment - _tokens.q.refilled_at), 0))
$$;

COMMENT ON FUNCTION taskq._tokens(taskq.queues, timestamptz) IS
    'Internal: the tokens of a queue''s rate bucket at moment (NULL without a rate limit).';

CREATE FUNCTION taskq.set_key_concurrency(queue text, key_limit integer, reason text DEFAULT NULL)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    limit_before integer;
    changed taskq.queues;
BEGIN
    IF set_key_concurrency.key_limit < 1 OR set_key_concurrency.key_limit > 10000 THEN
        RAISE EXCEPTION 'key_limit must be between 1 and 10000 (or NULL for no key limit), not %',
                set_key_concurrency.key_limit
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'key_limit';
    END IF;
    PERFORM taskq._ensure_queue(set_key_concurrency.queue);
    PERFORM pg_advisory_xact_lock(taskq._claim_lock_key(), 1);
    SELECT q.key_limit INTO limit_before FROM taskq.queues q WHERE q.name = set_key_concurrency.queue FOR NO KEY UPDATE;
    UPDATE taskq.queues q SET key_limit = set_key_concurrency.key_limit
    WHERE q.name = set_key_concurrency.queue
    RETURNING q.* INTO changed;
    PERFORM taskq._audit('set_key_concurrency', NULL, changed.name, jsonb_build_object('key_concurrency', limit_before),
                         jsonb_build_object('key_concurrency', changed.key_limit), set_key_concurrency.reason);
    IF changed.key_limit IS NULL OR changed.key_limit > limit_before THEN
        PERFORM pg_notify('taskq', changed.name);
    END IF;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.set_key_concurrency(text, integer, text) IS
    'Sets how many tasks with one concurrency_key may run at once in a queue (created if new), on top of its slots; NULL: no key limit. Tasks without a key are not limited. Running tasks are never interrupted. One audit row with the reason. 22023 unless 1 <= key_limit <= 10000; 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq.set_rate_limit(queue text, rate numeric, per interval DEFAULT '1 second',
                                     burst integer DEFAULT NULL, reason text DEFAULT NULL)
RETURNS taskq.queues
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    was taskq.queues;
    changed taskq.queues;
    moment timestamptz := clock_timestamp();
    new_burst integer;
BEGIN
    IF set_rate_limit.rate IS NOT NULL THEN
        IF set_rate_limit.rate = 'NaN' OR set_rate_limit.rate <= 0 OR set_rate_limit.rate > 1000000 THEN
            RAISE EXCEPTION 'rate must be a number of tasks above 0 and at most 1000000 (or NULL for no rate limit), not %',
                    set_rate_limit.rate
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'rate';
        END IF;
        IF set_rate_limit.per IS NULL OR set_rate_limit.per < interval '1 millisecond'
           OR set_rate_limit.per > interval '1 year' THEN
            RAISE EXCEPTION 'per must be an interval from 1 millisecond to 1 year, not %',
                    coalesce(set_rate_limit.per::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'per';
        END IF;
        IF set_rate_limit.rate / extract(epoch FROM set_rate_limit.per) < 1 / extract(epoch FROM interval '1 year') THEN
            RAISE EXCEPTION 'a rate of % per % is less than one task a year', set_rate_limit.rate, set_rate_limit.per
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'rate';
        END IF;
        IF set_rate_limit.burst < 1 OR set_rate_limit.burst > 1000000 THEN
            RAISE EXCEPTION 'burst must be between 1 and 1000000 (or NULL for the rate, rounded up), not %',
                    set_rate_limit.burst
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'burst';
        END IF;
        new_burst := coalesce(set_rate_limit.burst, greatest(ceil(set_rate_limit.rate), 1)::integer);
    END IF;
    PERFORM taskq._ensure_queue(set_rate_limit.queue);
    PERFORM pg_advisory_xact_lock(taskq._claim_lock_key(), 1);
    SELECT q.* INTO was FROM taskq.queues q WHERE q.name = set_rate_limit.queue FOR NO KEY UPDATE;
    UPDATE taskq.queues q
    SET rate = set_rate_limit.rate,
        rate_per = CASE WHEN set_rate_limit.rate IS NOT NULL THEN set_rate_limit.per END,
        rate_burst = new_burst,
        -- a bucket keeps what it holds (at most the new burst); a new one starts full
        tokens = CASE WHEN set_rate_limit.rate IS NOT NULL
                      THEN least(new_burst, coalesce(taskq._tokens(was, moment), new_burst)) END,
        refilled_at = CASE WHEN set_rate_limit.rate IS NOT NULL THEN moment END
    WHERE q.name = set_rate_limit.queue
    RETURNING q.* INTO changed;
    PERFORM taskq._audit('set_rate_limit', NULL, changed.name,
                         jsonb_build_object('rate', was.rate, 'per', was.rate_per, 'burst', was.rate_burst),
                         jsonb_build_object('rate', changed.rate, 'per', changed.rate_per, 'burst', changed.rate_burst),
                         set_rate_limit.reason);
    PERFORM pg_notify('taskq', changed.name);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq.set_rate_limit(text, numeric, interval, integer, text) IS
    'Limits the claims from a queue (created if new) to rate tasks per period per (default 1 second), with bursts of at most burst (default: rate rounded up), across all workers: a token bucket refilled by the database clock. NULL rate: no rate limit. One audit row with the reason. 22023 for a rate not in (0, 1000000], a per outside 1 ms .. 1 year, a burst outside 1 .. 1000000, less than one task a year; 22001 reason over 1000 characters. For taskq_admin.';

-- queue_stats: the limits appended (CREATE OR REPLACE VIEW appends columns only)
CREATE OR REPLACE VIEW taskq.queue_stats AS
SELECT q.name AS queue,
       q.concurrency,
       q.paused,
       count(t.id) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at <= now()) AS queued,
       count(t.id) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at > now()) AS scheduled,
       count(t.id) FILTER (WHERE t.status = 'RUNNING') AS running,
       count(t.id) FILTER (WHERE t.status = 'PAUSED') AS paused_tasks,
       count(t.id) FILTER (WHERE t.status = 'COMPLETED') AS completed,
       count(t.id) FILTER (WHERE t.status = 'FAILED') AS failed,
       count(t.id) FILTER (WHERE t.status = 'CANCELLED') AS cancelled,
       taskq._elapsed(min(t.scheduled_at) FILTER (WHERE t.status = 'QUEUED' AND t.scheduled_at <= now()), now())
           AS oldest_wait,
       coalesce((SELECT sum(u.queued) FROM taskq.unhandled_tasks u WHERE u.queue = q.name), 0)::bigint AS unhandled,
       q.key_limit AS key_concurrency,
       q.rate,
       q.rate_per,
       q.rate_burst
FROM taskq.queues q
LEFT JOIN taskq.tasks t ON t.queue = q.name
GROUP BY q.name, q.concurrency, q.paused;

COMMENT ON VIEW taskq.queue_stats IS
    'One row per queue: settings, tasks per state, the wait of the longest-due QUEUED task (NULL when it is due since a time outside years 1..9999 UTC), how many due tasks no live worker handles (unhandled), and its limits: key_concurrency (set_key_concurrency), rate per rate_per with bursts of rate_burst (set_rate_limit).';

GRANT EXECUTE ON FUNCTION taskq.set_key_concurrency(text, integer, text),
                          taskq.set_rate_limit(text, numeric, interval, integer, text) TO taskq_admin;

COMMIT;
