-- Deploy taskq:enqueue to pg (reworked after v0.5.0)
-- requires: enqueue@v0.5.0, trace_context
--
-- The W3C trace context of taskq:trace_context comes in through every enqueue:
--   taskq.enqueue(..., timeout, trace_context jsonb DEFAULT NULL);
--   taskq.enqueue_many(tasks jsonb): the key "trace_context", a JSON object or null;
--   taskq.enqueue_many(names, ..., timeouts, trace_contexts jsonb[] DEFAULT NULL).
--   A bad one is 22023 with COLUMN = trace_context, tasks[i].trace_context (i from 0) or
--   trace_contexts[i] (i from 1), the message 'trace_context ' and what taskq._check_trace_context
--   says is wrong (after 'task #n: ' in the many forms); the CHECK of the column never answers.
--   taskq._require_trace_context(trace_context, context, field) raises it.
-- The functions whose signatures change (enqueue, the array enqueue_many, and the internal
-- _enqueue, _enqueue_each, _enqueue_arrays_problem) are dropped and made again, with the grants
-- of taskq:roles; enqueue_many(jsonb) is replaced. Every other rule is enqueue@v0.5.0's.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE FUNCTION taskq._require_trace_context(trace_context jsonb, context text DEFAULT '',
                                             field text DEFAULT 'trace_context')
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    problem text := taskq._check_trace_context(_require_trace_context.trace_context);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%trace_context %', _require_trace_context.context, problem
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _require_trace_context.field,
                  HINT = 'a trace_context is {"traceparent": "00-<trace id>-<parent id>-<flags>"} and an optional "tracestate", as the W3C Trace Context headers';
    END IF;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION taskq._require_trace_context(jsonb, text, text) IS
    'Internal: true when a trace_context is NULL or good; else raises 22023 saying what is wrong (taskq._check_trace_context), COLUMN = field, the message after context.';

DROP FUNCTION taskq._enqueue_each(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[]);
DROP FUNCTION taskq._enqueue(uuid, text, text, jsonb, taskq.priority, timestamptz, integer, text, interval, text, interval);

CREATE FUNCTION taskq._enqueue(id uuid, queue text, name text, payload jsonb, priority taskq.priority,
                               scheduled_at timestamptz, max_attempts integer, unique_key text,
                               unique_for interval, concurrency_key text, timeout interval,
                               trace_context jsonb, OUT task_id uuid, OUT created boolean)
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    LOOP
        -- a conflict waits for an enqueue of the same key in progress, then reads it committed
        INSERT INTO taskq.tasks AS t (id, queue, name, payload, priority, scheduled_at, max_attempts,
                                      unique_key, unique_for, concurrency_key, timeout, trace_context)
        VALUES (coalesce(_enqueue.id, taskq.uuid_v7()), _enqueue.queue, _enqueue.name, _enqueue.payload,
                _enqueue.priority, _enqueue.scheduled_at, _enqueue.max_attempts, _enqueue.unique_key,
                _enqueue.unique_for, _enqueue.concurrency_key, _enqueue.timeout, _enqueue.trace_context)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
        RETURNING t.id INTO _enqueue.task_id;
        IF FOUND THEN
            _enqueue.created := true;
            RETURN;
        END IF;
        _enqueue.task_id := taskq._key_holder(_enqueue.unique_key);
        IF _enqueue.task_id IS NOT NULL THEN
            _enqueue.created := false;
            RETURN;
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION taskq._enqueue(uuid, text, text, jsonb, taskq.priority, timestamptz, integer, text, interval, text, interval, jsonb) IS
    'Internal: inserts one checked task (id NULL: a new UUIDv7), or answers the task that holds its unique_key (created false); exact under concurrent enqueues of one key.';

DROP FUNCTION taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval);

CREATE FUNCTION taskq.enqueue(
    name text,
    payload jsonb DEFAULT '{}',
    priority taskq.priority DEFAULT 'MEDIUM',
    scheduled_at timestamptz DEFAULT now(),
    queue text DEFAULT 'default',
    max_attempts integer DEFAULT 3,
    unique_key text DEFAULT NULL,
    unique_for interval DEFAULT NULL,
    concurrency_key text DEFAULT NULL,
    timeout interval DEFAULT NULL,
    trace_context jsonb DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    new_id uuid;
    created boolean;
    target_queue text := coalesce(enqueue.queue, 'default');
BEGIN
    PERFORM taskq._check_task(enqueue.name, coalesce(enqueue.payload, '{}'), coalesce(enqueue.max_attempts, 3));
    PERFORM taskq._check_time(enqueue.scheduled_at, 'scheduled_at', 'scheduled_at');
    PERFORM taskq._check_options(enqueue.unique_key, enqueue.unique_for, enqueue.concurrency_key, enqueue.timeout);
    PERFORM taskq._require_trace_context(enqueue.trace_context);
    PERFORM taskq._ensure_queue(target_queue);
    SELECT e.task_id, e.created INTO new_id, created
    FROM taskq._enqueue(NULL, target_queue, enqueue.name, coalesce(enqueue.payload, '{}'),
                        coalesce(enqueue.priority, 'MEDIUM'), coalesce(enqueue.scheduled_at, now()),
                        coalesce(enqueue.max_attempts, 3), enqueue.unique_key, enqueue.unique_for,
                        enqueue.concurrency_key, enqueue.timeout, enqueue.trace_context) e;
    IF created THEN
        -- Scheduled tasks notify too: an idle worker wakes to learn the new earliest due time.
        PERFORM pg_notify('taskq', target_queue);
    END IF;
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval, jsonb) IS
    'Adds a QUEUED task (scheduled when scheduled_at is in the future) and returns its id, or the id of the task that holds its unique_key; creates the queue if new; notifies channel taskq with the queue name. 22004/22023 for bad arguments (names of 1 to 128 characters, not blank; a payload nested at most 64 levels; keys of 1 to 256 characters, not blank; a unique_for not negative; a timeout positive and finite; a trace_context of a W3C traceparent and an optional tracestate); 22008 for a scheduled_at outside years 1..9999 UTC.';

CREATE FUNCTION taskq._enqueue_each(names text[], payloads jsonb[], queues text[], priorities taskq.priority[],
                                    scheduled_ats timestamptz[], max_attempts integer[], unique_keys text[],
                                    unique_fors interval[], concurrency_keys text[], timeouts interval[],
                                    trace_contexts jsonb[])
RETURNS TABLE (id uuid, created boolean)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    e record;
    added record;
    -- the keys of the call so far and the tasks that answered them, by position
    keys text[] := '{}';
    answers uuid[] := '{}';
    earlier integer;
    -- the answers by input position
    ids uuid[] := '{}';
    createds boolean[] := '{}';
BEGIN
    -- The tasks with a key in the order of their keys (then input order, so that the first of a
    -- key in the call is met first): two calls that share keys take them in one order, and one
    -- never waits for a key the other holds while holding one the other waits for (a deadlock).
    FOR e IN
        SELECT u.*
        FROM unnest(_enqueue_each.names, _enqueue_each.payloads, _enqueue_each.queues, _enqueue_each.priorities,
                    _enqueue_each.scheduled_ats, _enqueue_each.max_attempts, _enqueue_each.unique_keys,
                    _enqueue_each.unique_fors, _enqueue_each.concurrency_keys, _enqueue_each.timeouts,
                    _enqueue_each.trace_contexts)
             WITH ORDINALITY AS u (name, payload, queue, priority, scheduled_at, max_attempts, unique_key,
                                   unique_for, concurrency_key, timeout, trace_context, ordinal)
        ORDER BY u.unique_key COLLATE "C" NULLS LAST, u.ordinal
    LOOP
        earlier := array_position(keys, e.unique_key);
        IF earlier IS NOT NULL THEN
            -- the first task of a key in the call is the one added (or answered)
            id := answers[earlier];
            created := false;
        ELSE
            added := taskq._enqueue(NULL, coalesce(e.queue, 'default'), e.name, coalesce(e.payload, '{}'),
                                    coalesce(e.priority, 'MEDIUM'), coalesce(e.scheduled_at, now()),
                                    coalesce(e.max_attempts, 3), e.unique_key, e.unique_for, e.concurrency_key,
                                    e.timeout, e.trace_context);
            id := added.task_id;
            created := added.created;
            IF e.unique_key IS NOT NULL THEN
                keys := keys || e.unique_key;
                answers := answers || id;
            END IF;
            IF created THEN
                PERFORM pg_notify('taskq', coalesce(e.queue, 'default'));
            END IF;
        END IF;
        ids[e.ordinal] := id;
        createds[e.ordinal] := created;
    END LOOP;
    RETURN QUERY SELECT ids[i], createds[i] FROM generate_series(1, cardinality(ids)) AS i ORDER BY i;
END;
$$;

COMMENT ON FUNCTION taskq._enqueue_each(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[], jsonb[]) IS
    'Internal: enqueue_many of checked arrays of which some tasks have a unique_key: taskq._enqueue task by task, in the order of the keys (so that two calls sharing keys cannot deadlock), answered in input order; the first task of a key in the call is the one added, the others answer it (created false).';

CREATE OR REPLACE FUNCTION taskq.enqueue_many(tasks jsonb)
RETURNS TABLE (id uuid, created boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    problem record;
    -- Ids are made from one instant plus one microsecond per position, so they sort in input order.
    base timestamptz := clock_timestamp();
    known text[] := ARRAY['name', 'payload', 'priority', 'scheduled_at', 'queue', 'max_attempts',
                          'unique_key', 'unique_for', 'concurrency_key', 'timeout', 'trace_context'];
    names text[];
    payloads jsonb[];
    queues text[];
    priorities taskq.priority[];
    scheduled_ats timestamptz[];
    max_attempts integer[];
    unique_keys text[];
    unique_fors interval[];
    concurrency_keys text[];
    timeouts interval[];
    trace_contexts jsonb[];
BEGIN
    IF jsonb_typeof(enqueue_many.tasks) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'enqueue_many takes a JSON array of task objects, not %',
                coalesce(jsonb_typeof(enqueue_many.tasks), 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'tasks';
    END IF;
    -- One cheap pass over the array; the slower query below finds the first bad element.
    -- A value of the wrong JSON type (a name of 5) is refused, never turned into text.
    IF NOT coalesce((SELECT bool_and(CASE WHEN jsonb_typeof(e.task) = 'object'
                                          THEN e.task - known = '{}'::jsonb
                                               AND jsonb_typeof(e.task -> 'name') = 'string'
                                               AND coalesce(jsonb_typeof(e.task -> 'priority'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'scheduled_at'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'queue'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'max_attempts'), 'number') IN ('number', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'unique_key'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'unique_for'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'concurrency_key'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'timeout'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'trace_context'), 'object') IN ('object', 'null')
                                          ELSE false END)
                     FROM jsonb_array_elements(enqueue_many.tasks) AS e (task)), true) THEN
        SELECT e.ordinal, jsonb_typeof(e.task) AS kind, k.key, typed.key AS typed_key, typed.want,
               jsonb_typeof(e.task -> typed.key) AS got
        INTO problem
        FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal)
        LEFT JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(e.task) = 'object' THEN e.task END) AS k (key)
            ON k.key <> ALL (known)
        LEFT JOIN LATERAL (
            SELECT x.key, x.want
            FROM (VALUES (1, 'name', 'string'), (2, 'priority', 'string'), (3, 'scheduled_at', 'string'),
                         (4, 'queue', 'string'), (5, 'max_attempts', 'number'), (6, 'unique_key', 'string'),
                         (7, 'unique_for', 'string'), (8, 'concurrency_key', 'string'),
                         (9, 'timeout', 'string'), (10, 'trace_context', 'object')) AS x (position, key, want)
            WHERE jsonb_typeof(e.task) = 'object'
              AND jsonb_typeof(e.task -> x.key) NOT IN (x.want, 'null')
            ORDER BY x.position
            LIMIT 1
        ) typed ON true
        WHERE jsonb_typeof(e.task) <> 'object' OR k.key IS NOT NULL OR typed.key IS NOT NULL
        ORDER BY e.ordinal
        LIMIT 1;
        IF problem.kind IS DISTINCT FROM 'object' AND problem.ordinal IS NOT NULL THEN
            RAISE EXCEPTION 'task #% must be a JSON object, not %', problem.ordinal, problem.kind
                USING ERRCODE = 'invalid_parameter_value', COLUMN = format('tasks[%s]', problem.ordinal - 1);
        ELSIF problem.key IS NOT NULL THEN
            RAISE EXCEPTION 'task #% has an unknown key "%"', problem.ordinal, problem.key
                USING ERRCODE = 'invalid_parameter_value', COLUMN = format('tasks[%s].%s', problem.ordinal - 1, problem.key),
                      HINT = 'the keys are name, payload, priority, scheduled_at, queue, max_attempts, unique_key, unique_for, concurrency_key, timeout and trace_context';
        ELSIF problem.typed_key IS NOT NULL THEN
            RAISE EXCEPTION 'task #%: % must be a JSON %, not %', problem.ordinal, problem.typed_key, problem.want,
                    problem.got
                USING ERRCODE = 'invalid_parameter_value',
                      COLUMN = format('tasks[%s].%s', problem.ordinal - 1, problem.typed_key);
        END IF;
        -- else only a name is missing or null: the checks of the insert below say so
    END IF;

    -- each element's queue name first, so that a bad one is named by its position
    PERFORM taskq._check_name(coalesce(e.task ->> 'queue', 'default'), 'queue name',
                              format('tasks[%s].queue', e.ordinal - 1), format('task #%s: ', e.ordinal))
    FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal);
    PERFORM taskq._ensure_queue(q.queue)
    FROM (SELECT DISTINCT coalesce(e.task ->> 'queue', 'default') AS queue
          FROM jsonb_array_elements(enqueue_many.tasks) AS e (task)) q;

    SELECT array_agg(i.name ORDER BY i.ordinal), array_agg(i.payload ORDER BY i.ordinal),
           array_agg(i.queue ORDER BY i.ordinal), array_agg(i.priority ORDER BY i.ordinal),
           array_agg(i.scheduled_at ORDER BY i.ordinal), array_agg(i.max_attempts ORDER BY i.ordinal),
           array_agg(i.unique_key ORDER BY i.ordinal), array_agg(i.unique_for ORDER BY i.ordinal),
           array_agg(i.concurrency_key ORDER BY i.ordinal), array_agg(i.timeout ORDER BY i.ordinal),
           array_agg(i.trace_context ORDER BY i.ordinal)
    INTO names, payloads, queues, priorities, scheduled_ats, max_attempts, unique_keys, unique_fors,
         concurrency_keys, timeouts, trace_contexts
    FROM (SELECT e.ordinal,
                 e.task ->> 'name' AS name,
                 coalesce(nullif(e.task -> 'payload', 'null'), '{}') AS payload,
                 coalesce((e.task ->> 'priority')::taskq.priority, 'MEDIUM') AS priority,
                 coalesce(taskq._check_time((e.task ->> 'scheduled_at')::timestamptz,
                                            format('task #%s: scheduled_at', e.ordinal),
                                            format('tasks[%s].scheduled_at', e.ordinal - 1)), now()) AS scheduled_at,
                 coalesce(e.task ->> 'queue', 'default') AS queue,
                 coalesce((e.task ->> 'max_attempts')::integer, 3) AS max_attempts,
                 e.task ->> 'unique_key' AS unique_key,
                 (e.task ->> 'unique_for')::interval AS unique_for,
                 e.task ->> 'concurrency_key' AS concurrency_key,
                 (e.task ->> 'timeout')::interval AS timeout,
                 nullif(e.task -> 'trace_context', 'null') AS trace_context
          FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal)) i
    -- the checks run row by row; any failure aborts the whole call
    WHERE taskq._check_task(i.name, i.payload, i.max_attempts, format('task #%s: ', i.ordinal),
                            format('tasks[%s].', i.ordinal - 1))
      AND taskq._check_options(i.unique_key, i.unique_for, i.concurrency_key, i.timeout,
                               format('task #%s: ', i.ordinal),
                               ARRAY[format('tasks[%s].unique_key', i.ordinal - 1),
                                     format('tasks[%s].unique_for', i.ordinal - 1),
                                     format('tasks[%s].concurrency_key', i.ordinal - 1),
                                     format('tasks[%s].timeout', i.ordinal - 1)])
      AND (i.trace_context IS NULL
           OR taskq._require_trace_context(i.trace_context, format('task #%s: ', i.ordinal),
                                           format('tasks[%s].trace_context', i.ordinal - 1)));

    IF cardinality(array_remove(unique_keys, NULL)) > 0 THEN
        RETURN QUERY
        SELECT e.id, e.created
        FROM taskq._enqueue_each(names, payloads, queues, priorities, scheduled_ats, max_attempts, unique_keys,
                                 unique_fors, concurrency_keys, timeouts, trace_contexts) e;
        RETURN;
    END IF;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO taskq.tasks AS t (id, queue, name, payload, priority, scheduled_at, max_attempts,
                                      unique_key, unique_for, concurrency_key, timeout, trace_context)
        SELECT taskq.uuid_v7(base + (u.ordinal - 1) * interval '1 microsecond'),
               u.queue, u.name, u.payload, u.priority, u.scheduled_at, u.max_attempts,
               u.unique_key, u.unique_for, u.concurrency_key, u.timeout, u.trace_context
        FROM unnest(names, payloads, queues, priorities, scheduled_ats, max_attempts, unique_keys, unique_fors,
                    concurrency_keys, timeouts, trace_contexts)
             WITH ORDINALITY AS u (name, payload, queue, priority, scheduled_at, max_attempts, unique_key,
                                   unique_for, concurrency_key, timeout, trace_context, ordinal)
        RETURNING t.id, t.queue
    ), notified AS (
        SELECT pg_notify('taskq', n.queue) FROM (SELECT DISTINCT ins.queue FROM inserted ins) n
    )
    SELECT ins.id, true FROM inserted ins, (SELECT count(*) FROM notified) n ORDER BY ins.id;
END;
$$;

COMMENT ON FUNCTION taskq.enqueue_many(jsonb) IS
    'Adds many tasks in one call from a JSON array of objects keyed by enqueue''s parameter names; returns (id, created) per task in input order (created false: its unique_key was taken, the id the holder''s). All or nothing. 22023 for an unknown key, a value of the wrong JSON type or a bad element; 22008 for a time outside years 1..9999 UTC.';

DROP FUNCTION taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[]);
DROP FUNCTION taskq._enqueue_arrays_problem(text[], jsonb[], text[], timestamptz[], integer[], text[], interval[], text[], interval[]);

CREATE FUNCTION taskq._enqueue_arrays_problem(
    names text[],
    payloads jsonb[],
    queues text[],
    scheduled_ats timestamptz[],
    max_attempts integer[],
    unique_keys text[],
    unique_fors interval[],
    concurrency_keys text[],
    timeouts interval[],
    trace_contexts jsonb[]
)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    e record;
    context text;
BEGIN
    FOR e IN
        SELECT u.name, u.payload, u.queue, u.scheduled_at, u.max_attempts, u.unique_key, u.unique_for,
               u.concurrency_key, u.timeout, u.trace_context, u.ordinal
        FROM unnest(_enqueue_arrays_problem.names, _enqueue_arrays_problem.payloads,
                    _enqueue_arrays_problem.queues, _enqueue_arrays_problem.scheduled_ats,
                    _enqueue_arrays_problem.max_attempts, _enqueue_arrays_problem.unique_keys,
                    _enqueue_arrays_problem.unique_fors, _enqueue_arrays_problem.concurrency_keys,
                    _enqueue_arrays_problem.timeouts, _enqueue_arrays_problem.trace_contexts)
             WITH ORDINALITY AS u (name, payload, queue, scheduled_at, max_attempts, unique_key, unique_for,
                                   concurrency_key, timeout, trace_context, ordinal)
        ORDER BY u.ordinal
    LOOP
        context := format('task #%s: ', e.ordinal);
        PERFORM taskq._check_name(e.name, 'name', format('names[%s]', e.ordinal), context);
        IF jsonb_typeof(e.payload) <> 'object' THEN
            RAISE EXCEPTION '%payload must be a JSON object, not %', context, jsonb_typeof(e.payload)
                USING ERRCODE = 'invalid_parameter_value', COLUMN = format('payloads[%s]', e.ordinal);
        END IF;
        PERFORM taskq._check_depth(e.payload, 'payload', format('payloads[%s]', e.ordinal), context);
        IF e.queue IS NOT NULL THEN
            PERFORM taskq._check_name(e.queue, 'queue name', format('queues[%s]', e.ordinal), context);
        END IF;
        PERFORM taskq._check_time(e.scheduled_at, context || 'scheduled_at', format('scheduled_ats[%s]', e.ordinal));
        IF e.max_attempts < 1 THEN
            RAISE EXCEPTION '%max_attempts must be at least 1, not %', context, e.max_attempts
                USING ERRCODE = 'invalid_parameter_value', COLUMN = format('max_attempts[%s]', e.ordinal);
        END IF;
        PERFORM taskq._check_options(e.unique_key, e.unique_for, e.concurrency_key, e.timeout, context,
                                     ARRAY[format('unique_keys[%s]', e.ordinal), format('unique_fors[%s]', e.ordinal),
                                           format('concurrency_keys[%s]', e.ordinal), format('timeouts[%s]', e.ordinal)]);
        PERFORM taskq._require_trace_context(e.trace_context, context, format('trace_contexts[%s]', e.ordinal));
    END LOOP;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION taskq._enqueue_arrays_problem(text[], jsonb[], text[], timestamptz[], integer[], text[], interval[], text[], interval[], jsonb[]) IS
    'Internal: raises 22004 / 22008 / 22023 for the first bad element of enqueue_many''s arrays, COLUMN = array[subscript]; enqueue_many calls it only when its cheap pass found one.';

CREATE FUNCTION taskq.enqueue_many(
    names text[],
    payloads jsonb[],
    queues text[] DEFAULT NULL,
    priorities taskq.priority[] DEFAULT NULL,
    scheduled_ats timestamptz[] DEFAULT NULL,
    max_attempts integer[] DEFAULT NULL,
    unique_keys text[] DEFAULT NULL,
    unique_fors interval[] DEFAULT NULL,
    concurrency_keys text[] DEFAULT NULL,
    timeouts interval[] DEFAULT NULL,
    trace_contexts jsonb[] DEFAULT NULL
)
RETURNS TABLE (id uuid, created boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    task_count integer := cardinality(enqueue_many.names);
    arrays text[] := ARRAY['payloads', 'queues', 'priorities', 'scheduled_ats', 'max_attempts',
                           'unique_keys', 'unique_fors', 'concurrency_keys', 'timeouts', 'trace_contexts'];
    lengths integer[] := ARRAY[cardinality(enqueue_many.payloads), cardinality(enqueue_many.queues),
                               cardinality(enqueue_many.priorities), cardinality(enqueue_many.scheduled_ats),
                               cardinality(enqueue_many.max_attempts), cardinality(enqueue_many.unique_keys),
                               cardinality(enqueue_many.unique_fors), cardinality(enqueue_many.concurrency_keys),
                               cardinality(enqueue_many.timeouts), cardinality(enqueue_many.trace_contexts)];
    shapes boolean[] := ARRAY[taskq._is_list(enqueue_many.names), taskq._is_list(enqueue_many.payloads),
                              taskq._is_list(enqueue_many.queues), taskq._is_list(enqueue_many.priorities),
                              taskq._is_list(enqueue_many.scheduled_ats), taskq._is_list(enqueue_many.max_attempts),
                              taskq._is_list(enqueue_many.unique_keys), taskq._is_list(enqueue_many.unique_fors),
                              taskq._is_list(enqueue_many.concurrency_keys), taskq._is_list(enqueue_many.timeouts),
                              taskq._is_list(enqueue_many.trace_contexts)];
    target_queues text[];
    -- microseconds since 1970 and 62 random bits: each id adds its position to both
    base_us bigint := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    tail bigint := ('x' || substr(replace(gen_random_uuid()::text, '-', ''), 17))::bit(64)::bigint
                   & 4611686018427387903;
BEGIN
    IF enqueue_many.names IS NULL THEN
        RAISE EXCEPTION 'names must not be NULL: enqueue_many takes one name per task'
            USING ERRCODE = 'null_value_not_allowed', COLUMN = 'names';
    END IF;
    FOR i IN 1 .. 11 LOOP
        IF NOT shapes[i] THEN
            RAISE EXCEPTION '% must be a one-dimensional array from subscript 1',
                    (ARRAY['names'] || arrays)[i]
                USING ERRCODE = 'invalid_parameter_value', COLUMN = (ARRAY['names'] || arrays)[i];
        END IF;
    END LOOP;
    FOR i IN 1 .. 10 LOOP
        IF lengths[i] <> task_count THEN
            RAISE EXCEPTION '% has % elements and names has %: give each task one (or NULL for every default)',
                    arrays[i], lengths[i], task_count
                USING ERRCODE = 'invalid_parameter_value', COLUMN = arrays[i];
        END IF;
    END LOOP;
    IF task_count = 0 THEN
        RETURN;
    END IF;

    -- one cheap pass; the slower function names the first bad element, and raises
    IF NOT (SELECT bool_and(coalesce(length(u.name) <= 128 AND btrim(u.name, E' \t\r\n') <> ''
                            AND (u.payload IS NULL OR (jsonb_typeof(u.payload) = 'object'
                                                       AND NOT jsonb_path_exists(u.payload, 'strict $.**{65}')))
                            AND (u.queue IS NULL OR (length(u.queue) <= 128 AND btrim(u.queue, E' \t\r\n') <> ''))
                            AND (u.scheduled_at IS NULL OR (u.scheduled_at >= '0001-01-01 00:00:00+00'
                                                            AND u.scheduled_at < '10000-01-01 00:00:00+00'))
                            AND (u.max_attempts IS NULL OR u.max_attempts >= 1)
                            AND taskq._options_ok(u.unique_key, u.unique_for, u.concurrency_key, u.timeout)
                            AND (u.trace_context IS NULL OR taskq._check_trace_context(u.trace_context) IS NULL),
                            false))
            FROM unnest(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues,
                        enqueue_many.scheduled_ats, enqueue_many.max_attempts, enqueue_many.unique_keys,
                        enqueue_many.unique_fors, enqueue_many.concurrency_keys, enqueue_many.timeouts,
                        enqueue_many.trace_contexts)
                 AS u (name, payload, queue, scheduled_at, max_attempts, unique_key, unique_for, concurrency_key,
                       timeout, trace_context)) THEN
        PERFORM taskq._enqueue_arrays_problem(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues,
                                              enqueue_many.scheduled_ats, enqueue_many.max_attempts,
                                              enqueue_many.unique_keys, enqueue_many.unique_fors,
                                              enqueue_many.concurrency_keys, enqueue_many.timeouts,
                                              enqueue_many.trace_contexts);
    END IF;

    SELECT array_agg(DISTINCT coalesce(u.queue, 'default')) INTO target_queues
    FROM unnest(coalesce(enqueue_many.queues, ARRAY[NULL::text])) AS u (queue);
    PERFORM taskq._ensure_queue(q.queue) FROM unnest(target_queues) AS q (queue);

    IF cardinality(array_remove(enqueue_many.unique_keys, NULL)) > 0 THEN
        RETURN QUERY
        SELECT e.id, e.created
        FROM taskq._enqueue_each(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues,
                                 enqueue_many.priorities, enqueue_many.scheduled_ats, enqueue_many.max_attempts,
                                 enqueue_many.unique_keys, enqueue_many.unique_fors, enqueue_many.concurrency_keys,
                                 enqueue_many.timeouts, enqueue_many.trace_contexts) e;
        RETURN;
    END IF;

    RETURN QUERY
    WITH inserted AS (
        INSERT INTO taskq.tasks AS t (id, queue, name, payload, priority, scheduled_at, max_attempts,
                                      unique_key, unique_for, concurrency_key, timeout, trace_context)
        SELECT -- the layout of taskq.uuid_v7: 48 bits of milliseconds, the version 7, the 12-bit
               -- fraction of the millisecond; then the variant bits 10 and the 62 bits of tail
               encode(int8send((((base_us + u.ordinal) / 1000) << 16) | 28672
                               | (((base_us + u.ordinal) % 1000) * 4096 / 1000))
                      || int8send(((tail + u.ordinal) & 4611686018427387903) | (-9223372036854775807 - 1)),
                      'hex')::uuid,
               coalesce(u.queue, 'default'), u.name, coalesce(u.payload, '{}'), coalesce(u.priority, 'MEDIUM'),
               coalesce(u.scheduled_at, now()), coalesce(u.max_attempts, 3),
               u.unique_key, u.unique_for, u.concurrency_key, u.timeout, u.trace_context
        FROM unnest(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues, enqueue_many.priorities,
                    enqueue_many.scheduled_ats, enqueue_many.max_attempts, enqueue_many.unique_keys,
                    enqueue_many.unique_fors, enqueue_many.concurrency_keys, enqueue_many.timeouts,
                    enqueue_many.trace_contexts)
             WITH ORDINALITY AS u (name, payload, queue, priority, scheduled_at, max_attempts, unique_key,
                                   unique_for, concurrency_key, timeout, trace_context, ordinal)
        RETURNING t.id
    )
    SELECT ins.id, true FROM inserted ins ORDER BY ins.id;
    -- Scheduled tasks notify too: an idle worker wakes to learn the new earliest due time.
    PERFORM pg_notify('taskq', q.queue) FROM unnest(target_queues) AS q (queue);
END;
$$;

COMMENT ON FUNCTION taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[], jsonb[]) IS
    'Adds many tasks in one call from arrays of enqueue''s arguments, element i of each for task i (a NULL array or element: the default); returns (id, created) per task in input order (created false: its unique_key was taken, the id the holder''s). All or nothing. 22004 / 22023 / 22008 as enqueue, COLUMN = array[subscript] (from 1); 22023 for arrays of different lengths.';

GRANT EXECUTE ON FUNCTION
    taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval, jsonb),
    taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[], jsonb[])
TO taskq_producer;

COMMIT;
