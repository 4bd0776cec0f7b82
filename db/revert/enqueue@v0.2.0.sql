-- Revert taskq:enqueue from pg: back to v0.1.0's checks, without the nesting limit.
BEGIN;

DROP FUNCTION taskq._check_task(text, jsonb, integer, text, text);
DROP FUNCTION taskq._task_problem(text, jsonb, integer, text, text);

CREATE FUNCTION taskq._task_problem(name text, payload jsonb, max_attempts integer, context text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF _task_problem.name IS NULL THEN
        RAISE EXCEPTION '%name must not be NULL', _task_problem.context USING ERRCODE = 'null_value_not_allowed';
    ELSIF btrim(_task_problem.name) = '' THEN
        RAISE EXCEPTION '%name must not be empty', _task_problem.context USING ERRCODE = 'invalid_parameter_value';
    ELSIF jsonb_typeof(_task_problem.payload) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION '%payload must be a JSON object, not %', _task_problem.context, jsonb_typeof(_task_problem.payload)
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF _task_problem.max_attempts < 1 THEN
        RAISE EXCEPTION '%max_attempts must be at least 1, not %', _task_problem.context, _task_problem.max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION taskq._task_problem(text, jsonb, integer, text) IS
    'Internal: raises 22004 / 22023 naming what is wrong with a task''s arguments; _check_task calls it only for a bad task.';

-- One SQL expression, so that the planner inlines it into enqueue_many's insert: a good task
-- costs a few comparisons, and only a bad one reaches the PL/pgSQL function with the messages.
CREATE FUNCTION taskq._check_task(name text, payload jsonb, max_attempts integer, context text DEFAULT '')
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN _check_task.name IS NOT NULL AND btrim(_check_task.name) <> ''
                     AND jsonb_typeof(_check_task.payload) = 'object' AND _check_task.max_attempts >= 1
                THEN true
                ELSE taskq._task_problem(_check_task.name, _check_task.payload, _check_task.max_attempts,
                                         _check_task.context) END
$$;

COMMENT ON FUNCTION taskq._check_task(text, jsonb, integer, text) IS
    'Internal: the argument checks enqueue and enqueue_many share; true, or raises 22004 / 22023.';

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
    'Adds a QUEUED task (scheduled when scheduled_at is in the future) and returns its id; creates the queue if new; notifies channel taskq with the queue name. 22004/22023 for bad arguments.';

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
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One cheap pass over the array; the slower query below finds the first bad element.
    IF NOT coalesce((SELECT bool_and(CASE WHEN jsonb_typeof(e.task) = 'object'
                                          THEN e.task - ARRAY['name', 'payload', 'priority', 'scheduled_at', 'queue', 'max_attempts'] = '{}'::jsonb
                                          ELSE false END)
                     FROM jsonb_array_elements(enqueue_many.tasks) AS e (task)), true) THEN
        SELECT e.ordinal, jsonb_typeof(e.task) AS kind, k.key INTO problem
        FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal)
        LEFT JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(e.task) = 'object' THEN e.task END) AS k (key)
            ON k.key NOT IN ('name', 'payload', 'priority', 'scheduled_at', 'queue', 'max_attempts')
        WHERE jsonb_typeof(e.task) <> 'object' OR k.key IS NOT NULL
        ORDER BY e.ordinal
        LIMIT 1;
        IF problem.kind IS DISTINCT FROM 'object' AND problem.ordinal IS NOT NULL THEN
            RAISE EXCEPTION 'task #% must be a JSON object, not %', problem.ordinal, problem.kind
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF problem.key IS NOT NULL THEN
            RAISE EXCEPTION 'task #% has an unknown key "%"', problem.ordinal, problem.key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'the keys are name, payload, priority, scheduled_at, queue and max_attempts';
        END IF;
    END IF;

    PERFORM taskq._ensure_queue(q.queue)
    FROM (SELECT DISTINCT coalesce(e.task ->> 'queue', 'default') AS queue
          FROM jsonb_array_elements(enqueue_many.tasks) AS e (task)) q;

    RETURN QUERY
    WITH input AS (
        SELECT e.ordinal,
               e.task ->> 'name' AS name,
               coalesce(nullif(e.task -> 'payload', 'null'), '{}') AS payload,
               coalesce((e.task ->> 'priority')::taskq.priority, 'MEDIUM') AS priority,
               coalesce((e.task ->> 'scheduled_at')::timestamptz, now()) AS scheduled_at,
               coalesce(e.task ->> 'queue', 'default') AS queue,
               coalesce((e.task ->> 'max_attempts')::integer, 3) AS max_attempts
        FROM jsonb_array_elements(enqueue_many.tasks) WITH ORDINALITY AS e (task, ordinal)
    ), inserted AS (
        INSERT INTO taskq.tasks AS t (id, queue, name, payload, priority, scheduled_at, max_attempts)
        SELECT taskq.uuid_v7(base + (i.ordinal - 1) * interval '1 microsecond'),
               i.queue, i.name, i.payload, i.priority, i.scheduled_at, i.max_attempts
        FROM input i
        -- the checks run row by row before the insert; any failure aborts the whole call
        WHERE taskq._check_task(i.name, i.payload, i.max_attempts, format('task #%s: ', i.ordinal))
        RETURNING t.id, t.queue
    ), notified AS (
        SELECT pg_notify('taskq', n.queue) FROM (SELECT DISTINCT ins.queue FROM inserted ins) n
    )
    SELECT ins.id FROM inserted ins, (SELECT count(*) FROM notified) n ORDER BY ins.id;
END;
$$;

COMMENT ON FUNCTION taskq.enqueue_many(jsonb) IS
    'Adds many tasks in one call from a JSON array of objects keyed by enqueue''s parameter names; returns their ids in input order. All or nothing. 22023 for an unknown key or a bad element.';

DROP FUNCTION taskq._check_depth(jsonb, text, text, text);
DROP FUNCTION taskq._depth_problem(jsonb, text, text, text);

COMMIT;
