-- Deploy taskq:enqueue to pg (reworked after v0.2.0)
-- requires: enqueue@v0.2.0
--
-- taskq.enqueue_many(names, payloads, queues, priorities, scheduled_ats, max_attempts): the array
--   form of enqueue_many, beside the JSON form (unchanged). Element i of each array is task i's
--   argument of enqueue: a NULL array means every task takes that argument's default, a NULL
--   element that task's default (names has no default). Returns the ids in input order; all or
--   nothing; one NOTIFY per queue; creates the queues that are new.
--   payloads has no default, so that a call with one argument (enqueue_many(NULL),
--   enqueue_many('[...]')) always means the JSON form.
--   The rules of enqueue, each raised with COLUMN = the array and the element's subscript
--   (names[3], counted from 1 as SQL counts) and a message beginning 'task #3: ':
--     22004 a NULL names or a NULL name; 22023 a name or queue name that breaks _check_name, a
--     payload that is not a JSON object or is nested deeper than 64 levels, a max_attempts < 1;
--     22008 a scheduled_at outside years 1..9999 UTC; 22023 with COLUMN = the array for an array
--     whose length differs from names's, or that is not one-dimensional from subscript 1.
--   The checks are one cheap pass over the arrays; only when it finds something wrong does a
--   second pass look for the first bad element and say what is wrong with it.
--   The ids are UUIDv7 (RFC 9562) as taskq.uuid_v7 makes them, the 12-bit fraction of the
--   millisecond included, but their 62 random bits come from one random draw per call plus the
--   element's position (RFC 9562's monotonic random, method 2): a random draw costs more than
--   the rest of an id, and ids of one call sort in input order by construction.
BEGIN;

CREATE FUNCTION taskq._is_list(list anyarray)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT _is_list.list IS NULL OR cardinality(_is_list.list) = 0
           OR (array_ndims(_is_list.list) = 1 AND array_lower(_is_list.list, 1) = 1)
$$;

COMMENT ON FUNCTION taskq._is_list(anyarray) IS
    'Internal: true for NULL, an empty array, or a one-dimensional array from subscript 1 (what unnest and a subscript count alike).';

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

COMMIT;
