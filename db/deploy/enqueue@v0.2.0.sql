-- Deploy taskq:enqueue to pg (reworked after v0.1.0)
-- requires: enqueue@v0.1.0, queues, uuid_v7
--
-- What enqueue and enqueue_many accept, so that whatever they accept a worker can decode:
--   taskq._check_depth(value, what, field, context) returns true when no value inside the JSON value
--       lies deeper than 64 levels (an object or array of objects or arrays, 64 times over: a
--       key or index path of at most 64 steps); else raises 22023. Python's JSON decoders fail
--       near 1,000 levels; 64 leaves room for any real payload and costs one jsonpath search.
--       COLUMN = field (payload, result, tasks[i].payload, ...).
--       complete and complete_many apply it to a result too.
--   taskq._check_task(name, payload, max_attempts, context, field_prefix): the name rule of
--       _check_name (task and queue names alike), a payload that is a JSON object nested at most
--       64 levels, and max_attempts >= 1; 22004 / 22023 with COLUMN = field_prefix || the
--       parameter ('' for enqueue, 'tasks[i].' for element i of enqueue_many, i from 0).
--   Every 22xxx raised here carries COLUMN: the parameter (name, payload, scheduled_at, queue,
--   max_attempts, tasks), or tasks[i] / tasks[i].<key> for element i (counted from 0, as jsonb's
--   -> counts; the message's #n counts from 1).
--   taskq.enqueue(...) also refuses a scheduled_at outside years 1..9999 UTC (22008).
--   taskq.enqueue_many(tasks) also refuses a value of the wrong JSON type (22023): name,
--       priority, scheduled_at and queue are JSON strings, max_attempts a JSON number (each may be
--       null or left out but name, which is 22004 when null or missing); and a scheduled_at
--       outside years 1..9999 UTC (22008).
BEGIN;

CREATE FUNCTION taskq._depth_problem(value jsonb, what text, field text, context text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION '% is nested deeper than 64 levels', _depth_problem.context || _depth_problem.what
        USING ERRCODE = 'invalid_parameter_value', COLUMN = _depth_problem.field,
              HINT = 'taskq accepts JSON values nested at most 64 levels, so that every worker can decode them';
END;
$$;

COMMENT ON FUNCTION taskq._depth_problem(jsonb, text, text, text) IS
    'Internal: raises 22023 for a JSON value nested deeper than 64 levels; _check_depth calls it only for such a value.';

-- One SQL expression, so that the planner inlines it into enqueue_many's insert. The value goes
-- to _depth_problem too: with constant arguments only, the planner would call it while planning.
CREATE FUNCTION taskq._check_depth(value jsonb, what text, field text, context text DEFAULT '')
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    -- strict $.**{65}: the values 65 levels below the top, of objects and arrays alike
    SELECT CASE WHEN _check_depth.value IS NULL OR NOT jsonb_path_exists(_check_depth.value, 'strict $.**{65}')
                THEN true
                ELSE taskq._depth_problem(_check_depth.value, _check_depth.what, _check_depth.field,
                                          _check_depth.context) END
$$;

COMMENT ON FUNCTION taskq._check_depth(jsonb, text, text, text) IS
    'Internal: true when the JSON value is nested at most 64 levels (or NULL); else raises 22023 naming what, COLUMN = field.';

-- v0.1.0's _task_problem and _check_task took no field_prefix
DROP FUNCTION taskq._check_task(text, jsonb, integer, text);
DROP FUNCTION taskq._task_problem(text, jsonb, integer, text);

CREATE FUNCTION taskq._task_problem(name text, payload jsonb, max_attempts integer, context text, field_prefix text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    PERFORM taskq._check_name(_task_problem.name, 'name', _task_problem.field_prefix || 'name', _task_problem.context);
    IF jsonb_typeof(_task_problem.payload) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION '%payload must be a JSON object, not %', _task_problem.context, jsonb_typeof(_task_problem.payload)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _task_problem.field_prefix || 'payload';
    ELSIF _task_problem.max_attempts < 1 THEN
        RAISE EXCEPTION '%max_attempts must be at least 1, not %', _task_problem.context, _task_problem.max_attempts
            USING ERRCODE = 'invalid_parameter_value', COLUMN = _task_problem.field_prefix || 'max_attempts';
    END IF;
    RETURN taskq._check_depth(_task_problem.payload, 'payload', _task_problem.field_prefix || 'payload',
                              _task_problem.context);
END;
$$;

COMMENT ON FUNCTION taskq._task_problem(text, jsonb, integer, text, text) IS
    'Internal: raises 22004 / 22023 naming what is wrong with a task''s arguments; _check_task calls it only for a bad task.';

-- One SQL expression, so that the planner inlines it into enqueue_many's insert: a good task
-- costs a few comparisons and one jsonpath search, and only a bad one reaches the PL/pgSQL
-- functions with the messages.
CREATE FUNCTION taskq._check_task(name text, payload jsonb, max_attempts integer, context text DEFAULT '',
                                  field_prefix text DEFAULT '')
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT taskq._check_name(_check_task.name, 'name', _check_task.field_prefix || 'name', _check_task.context)
           AND CASE WHEN jsonb_typeof(_check_task.payload) = 'object' AND _check_task.max_attempts >= 1
                         AND NOT jsonb_path_exists(_check_task.payload, 'strict $.**{65}')
                    THEN true
                    ELSE taskq._task_problem(_check_task.name, _check_task.payload, _check_task.max_attempts,
                                             _check_task.context, _check_task.field_prefix) END
$$;

COMMENT ON FUNCTION taskq._check_task(text, jsonb, integer, text, text) IS
    'Internal: the argument checks enqueue and enqueue_many share (the name rule of _check_name, a JSON object nested at most 64 levels, max_attempts >= 1); true, or raises 22004 / 22023.';

CREATE OR REPLACE FUNCTION taskq.enqueue(
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

CREATE OR REPLACE FUNCTION taskq.enqueue_many(tasks jsonb)
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

COMMIT;
