-- Revert taskq:enqueue from pg: back to v0.4.0, enqueue and enqueue_many without the per-task
-- options (the definitions of enqueue@v0.2.0 and enqueue@v0.4.0, with the grants of taskq:roles).
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer, text, interval, text, interval);
DROP FUNCTION taskq.enqueue_many(jsonb);
DROP FUNCTION taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[]);
DROP FUNCTION taskq._enqueue_arrays_problem(text[], jsonb[], text[], timestamptz[], integer[], text[], interval[], text[], interval[]);
DROP FUNCTION taskq._check_options(text, interval, text, interval, text, text[]);
DROP FUNCTION taskq._options_problem(text, interval, text, interval, text, text[]);
DROP FUNCTION taskq._options_ok(text, interval, text, interval);
DROP FUNCTION taskq._enqueue_each(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[], text[], interval[], text[], interval[]);
DROP FUNCTION taskq._enqueue(uuid, text, text, jsonb, taskq.priority, timestamptz, integer, text, interval, text, interval);
DROP FUNCTION taskq._key_holder(text);

CREATE FUNCTION taskq.enqueue(
    name text,
    payload jsonb DEFAULT '{}',
    priority taskq.priority DEFAULT 'MEDIUM',
    scheduled_at timestamptz DEFAULT now(),
    queue text DEFAULT 'default',
    max_attempts integer DEFAULT 3
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    new_id uuid;
    target_queue text := coalesce(enqueue.queue, 'default');
BEGIN
    PERFORM taskq._check_task(enqueue.name, coalesce(enqueue.payload, '{}'), coalesce(enqueue.max_attempts, 3));
    PERFORM taskq._check_time(enqueue.scheduled_at, 'scheduled_at', 'scheduled_at');
    PERFORM taskq._ensure_queue(target_queue);
    INSERT INTO taskq.tasks AS t (queue, name, payload, priority, scheduled_at, max_attempts)
    VALUES (target_queue, enqueue.name, coalesce(enqueue.payload, '{}'), coalesce(enqueue.priority, 'MEDIUM'),
            coalesce(enqueue.scheduled_at, now()), coalesce(enqueue.max_attempts, 3))
    RETURNING t.id INTO new_id;
    -- Scheduled tasks notify too: an idle worker wakes to learn the new earliest due time.
    PERFORM pg_notify('taskq', target_queue);
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer) IS
    'Adds a QUEUED task (scheduled when scheduled_at is in the future) and returns its id; creates the queue if new; notifies channel taskq with the queue name. 22004/22023 for bad arguments (names of 1 to 128 characters, not blank; a payload nested at most 64 levels); 22008 for a scheduled_at outside years 1..9999 UTC.';

CREATE FUNCTION taskq.enqueue_many(tasks jsonb)
RETURNS SETOF uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    problem record;
    -- Ids are made from one instant plus one microsecond per position, so they sort in input order.
    base timestamptz := clock_timestamp();
BEGIN
    IF jsonb_typeof(enqueue_many.tasks) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'enqueue_many takes a JSON array of task objects, not %',
                coalesce(jsonb_typeof(enqueue_many.tasks), 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'tasks';
    END IF;
    -- One cheap pass over the array; the slower query below finds the first bad element.
    -- A value of the wrong JSON type (a name of 5) is refused, never turned into text.
    IF NOT coalesce((SELECT bool_and(CASE WHEN jsonb_typeof(e.task) = 'object'
                                          THEN e.task - ARRAY['name', 'payload', 'priority', 'scheduled_at', 'queue', 'max_attempts'] = '{}'::jsonb
                                               AND jsonb_typeof(e.task -> 'name') = 'string'
                                               AND coalesce(jsonb_typeof(e.task -> 'priority'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'scheduled_at'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'queue'), 'string') IN ('string', 'null')
                                               AND coalesce(jsonb_typeof(e.task -> 'max_attempts'), 'number') IN ('number', 'null')
                                          ELSE false END)
                     FROM jsonb_array_elements(enqueue_many.tasks) AS e (task)), true) THEN
        SELECT e.ordinal, jsonb_typeof(e.task) AS kind, k.key, typed.key AS typed_key, typed.want,
               jsonb_typeof(e.task -> typed.key) AS got
        INTO problem
        FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal)
        LEFT JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(e.task) = 'object' THEN e.task END) AS k (key)
            ON k.key NOT IN ('name', 'payload', 'priority', 'scheduled_at', 'queue', 'max_attempts')
        LEFT JOIN LATERAL (
            SELECT x.key, x.want
            FROM (VALUES (1, 'name', 'string'), (2, 'priority', 'string'), (3, 'scheduled_at', 'string'),
                         (4, 'queue', 'string'), (5, 'max_attempts', 'number')) AS x (position, key, want)
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
                      HINT = 'the keys are name, payload, priority, scheduled_at, queue and max_attempts';
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

    RETURN QUERY
    WITH input AS (
        SELECT e.ordinal,
               e.task ->> 'name' AS name,
               coalesce(nullif(e.task -> 'payload', 'null'), '{}') AS payload,
               coalesce((e.task ->> 'priority')::taskq.priority, 'MEDIUM') AS priority,
               coalesce(taskq._check_time((e.task ->> 'scheduled_at')::timestamptz,
                                          format('task #%s: scheduled_at', e.ordinal),
                                          format('tasks[%s].scheduled_at', e.ordinal - 1)), now()) AS scheduled_at,
               coalesce(e.task ->> 'queue', 'default') AS queue,
               coalesce((e.task ->> 'max_attempts')::integer, 3) AS max_attempts
        FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal)
    ), inserted AS (
        INSERT INTO taskq.tasks AS t (id, queue, name, payload, priority, scheduled_at, max_attempts)
        SELECT taskq.uuid_v7(base + (i.ordinal - 1) * interval '1 microsecond'),
               i.queue, i.name, i.payload, i.priority, i.scheduled_at, i.max_attempts
        FROM input i
        -- the checks run row by row before the insert; any failure aborts the whole call
        WHERE taskq._check_task(i.name, i.payload, i.max_attempts, format('task #%s: ', i.ordinal),
                                format('tasks[%s].', i.ordinal - 1))
        RETURNING t.id, t.queue
    ), notified AS (
        SELECT pg_notify('taskq', n.queue) FROM (SELECT DISTINCT ins.queue FROM inserted ins) n
    )
    SELECT ins.id FROM inserted ins, (SELECT count(*) FROM notified) n ORDER BY ins.id;
END;
$$;

COMMENT ON FUNCTION taskq.enqueue_many(jsonb) IS
    'Adds many tasks in one call from a JSON array of objects keyed by enqueue''s parameter names; returns their ids in input order. All or nothing. 22023 for an unknown key, a value of the wrong JSON type or a bad element; 22008 for a time outside years 1..9999 UTC.';

CREATE FUNCTION taskq._enqueue_arrays_problem(
    names text[],
    payloads jsonb[],
    queues text[],
    scheduled_ats timestamptz[],
    max_attempts integer[]
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
        SELECT u.name, u.payload, u.queue, u.scheduled_at, u.max_attempts, u.ordinal
        FROM unnest(_enqueue_arrays_problem.names, _enqueue_arrays_problem.payloads,
                    _enqueue_arrays_problem.queues, _enqueue_arrays_problem.scheduled_ats,
                    _enqueue_arrays_problem.max_attempts)
             WITH ORDINALITY AS u (name, payload, queue, scheduled_at, max_attempts, ordinal)
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
    END LOOP;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION taskq._enqueue_arrays_problem(text[], jsonb[], text[], timestamptz[], integer[]) IS
    'Internal: raises 22004 / 22008 / 22023 for the first bad element of enqueue_many''s arrays, COLUMN = array[subscript]; enqueue_many calls it only when its cheap pass found one.';

CREATE FUNCTION taskq.enqueue_many(
    names text[],
    payloads jsonb[],
    queues text[] DEFAULT NULL,
    priorities taskq.priority[] DEFAULT NULL,
    scheduled_ats timestamptz[] DEFAULT NULL,
    max_attempts integer[] DEFAULT NULL
)
RETURNS SETOF uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    task_count integer := cardinality(enqueue_many.names);
    arrays text[] := ARRAY['payloads', 'queues', 'priorities', 'scheduled_ats', 'max_attempts'];
    lengths integer[] := ARRAY[cardinality(enqueue_many.payloads), cardinality(enqueue_many.queues),
                               cardinality(enqueue_many.priorities), cardinality(enqueue_many.scheduled_ats),
                               cardinality(enqueue_many.max_attempts)];
    shapes boolean[] := ARRAY[taskq._is_list(enqueue_many.names), taskq._is_list(enqueue_many.payloads),
                              taskq._is_list(enqueue_many.queues), taskq._is_list(enqueue_many.priorities),
                              taskq._is_list(enqueue_many.scheduled_ats), taskq._is_list(enqueue_many.max_attempts)];
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
    FOR i IN 1 .. 6 LOOP
        IF NOT shapes[i] THEN
            RAISE EXCEPTION '% must be a one-dimensional array from subscript 1',
                    (ARRAY['names'] || arrays)[i]
                USING ERRCODE = 'invalid_parameter_value', COLUMN = (ARRAY['names'] || arrays)[i];
        END IF;
    END LOOP;
    FOR i IN 1 .. 5 LOOP
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
                            AND (u.max_attempts IS NULL OR u.max_attempts >= 1), false))
            FROM unnest(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues,
                        enqueue_many.scheduled_ats, enqueue_many.max_attempts)
                 AS u (name, payload, queue, scheduled_at, max_attempts)) THEN
        PERFORM taskq._enqueue_arrays_problem(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues,
                                              enqueue_many.scheduled_ats, enqueue_many.max_attempts);
    END IF;

    SELECT array_agg(DISTINCT coalesce(u.queue, 'default')) INTO target_queues
    FROM unnest(coalesce(enqueue_many.queues, ARRAY[NULL::text])) AS u (queue);
    PERFORM taskq._ensure_queue(q.queue) FROM unnest(target_queues) AS q (queue);

    RETURN QUERY
    WITH inserted AS (
        INSERT INTO taskq.tasks AS t (id, queue, name, payload, priority, scheduled_at, max_attempts)
        SELECT -- the layout of taskq.uuid_v7: 48 bits of milliseconds, the version 7, the 12-bit
               -- fraction of the millisecond; then the variant bits 10 and the 62 bits of tail
               encode(int8send((((base_us + u.ordinal) / 1000) << 16) | 28672
                               | (((base_us + u.ordinal) % 1000) * 4096 / 1000))
                      || int8send(((tail + u.ordinal) & 4611686018427387903) | (-9223372036854775807 - 1)),
                      'hex')::uuid,
               coalesce(u.queue, 'default'), u.name, coalesce(u.payload, '{}'), coalesce(u.priority, 'MEDIUM'),
               coalesce(u.scheduled_at, now()), coalesce(u.max_attempts, 3)
        FROM unnest(enqueue_many.names, enqueue_many.payloads, enqueue_many.queues, enqueue_many.priorities,
                    enqueue_many.scheduled_ats, enqueue_many.max_attempts)
             WITH ORDINALITY AS u (name, payload, queue, priority, scheduled_at, max_attempts, ordinal)
        RETURNING t.id
    )
    SELECT ins.id FROM inserted ins ORDER BY ins.id;
    -- Scheduled tasks notify too: an idle worker wakes to learn the new earliest due time.
    PERFORM pg_notify('taskq', q.queue) FROM unnest(target_queues) AS q (queue);
END;
$$;

COMMENT ON FUNCTION taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[]) IS
    'Adds many tasks in one call from arrays of enqueue''s arguments, element i of each for task i (a NULL array or element: the default); returns their ids in input order. All or nothing. 22004 / 22023 / 22008 as enqueue, COLUMN = array[subscript] (from 1); 22023 for arrays of different lengths.';

GRANT EXECUTE ON FUNCTION
    taskq.enqueue(text, jsonb, taskq.priority, timestamptz, text, integer),
    taskq.enqueue_many(jsonb),
    taskq.enqueue_many(text[], jsonb[], text[], taskq.priority[], timestamptz[], integer[])
TO taskq_producer;

COMMIT;
