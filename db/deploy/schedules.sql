-- Deploy taskq:schedules to pg
-- requires: roles
--
-- Periodic tasks: a schedule enqueues a task at each tick of a cron expression, evaluated in a
-- named time zone; every tick is enqueued once however many workers (or pg_cron) call
-- taskq.run_schedules at the same time.
--   taskq.schedules (private): one row per schedule; name is the key.
--   taskq.cron_next(cron, time_zone, after) returns the first tick of cron strictly after
--       `after`, in time_zone (any name PostgreSQL knows, pg_timezone_names). 22004 for a NULL
--       argument; 22023 for a bad expression (the message names the field) or an unknown zone.
--   taskq.schedule(name, cron, payload, queue, priority, time_zone, max_attempts, task_name,
--       missed, reason) creates or replaces the schedule called name and returns its row;
--       task_name defaults to name. Replacing keeps next_run_at when cron and time_zone are the
--       same (a tick already due is not lost), else it is the first tick after now. An admin
--       act: one audit row (action schedule, before NULL for a new schedule). 22004 / 22023 for
--       bad arguments as enqueue raises them, and for a cron expression that never matches.
--   taskq.declare_schedule(...) the same without reason, for the workers, which declare their
--       handlers' schedules when they start: it writes an audit row (action declare_schedule)
--       only when it creates or changes a schedule.
--   taskq.unschedule(name, reason) removes a schedule and returns its last row; P0002 for an
--       unknown name. An admin act: one audit row (action unschedule).
--   taskq.schedule_info: the schedules with their next run, in UTC and in their zone.
--   taskq.get_schedule(name) returns the schedule's row of schedule_info; P0002 for an unknown
--       name.
--   taskq.run_schedules() enqueues the ticks due by the database clock and returns one row
--       (enqueued, next_run_at):
--       how many tasks it enqueued, and the earliest next run of all schedules (NULL: none).
--       Each schedule runs in its own subtransaction: one whose enqueue raises (a stored
--       argument made invalid since, a queue that refuses it) is rolled back alone, with a
--       WARNING naming it and the error, and the others are enqueued. Its due ticks are skipped
--       (next_run_at moves to the first tick after now, NULL when its cron or zone no longer
--       parses), so it is not retried at once by every caller; its next tick tries again. A
--       transient error (class 40, 53, 57, 58, XX) still fails the whole call. Its body is
--       taskq._run_schedules(at), the owner's only: a caller that could pass the moment could
--       move every schedule's clock (infinity stops them all).
--
-- Cron: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; each a
-- list of *, values, ranges a-b, steps */n, a-b/n and a/n (a to the field's end); month names
-- jan..dec and weekday names sun..sat; 0 and 7 are Sunday; @yearly @annually @monthly @weekly
-- @daily @midnight @hourly. As in Vixie cron, when both day fields are restricted (neither
-- starts with *), a day matches when either does; else both must.
-- Time zones: ticks are local times of the schedule's zone. A local time that does not exist
-- (the hour skipped on a spring-forward day) runs once, at the first instant after the gap
-- (02:30 Europe/Paris on the last Sunday of March runs at 03:00 CEST); the ticks inside one gap
-- make one run. A local time that happens twice (fall-back) runs once, at its first occurrence;
-- the repeated hour's second pass runs nothing (use time_zone 'UTC' for a schedule whose ticks
-- must be evenly spaced in real time).
-- Missed ticks: a tick is missed when run_schedules finds it due for more than a minute (no
-- worker and no pg_cron called it meanwhile). With missed 'once' (the default), one task stands
-- for all the ticks due up to now, its tick the first missed one; with 'skip', none is enqueued.
-- Either way the next run is the first tick after now: never a burst of one task per missed
-- tick. Ticks due less than a minute are on time: each gets its own task.
-- The task of a tick is enqueued by taskq.enqueue, due at the tick (scheduled_at = the tick),
-- its payload the schedule's with the key "_schedule": {"name", "tick" (UTC ISO 8601),
-- "missed"} added, so that a handler knows which tick it runs for.
BEGIN;

SET LOCAL ROLE taskq_owner;

CREATE TABLE taskq.schedules (
    name         text           PRIMARY KEY,
    task_name    text           NOT NULL,
    cron         text           NOT NULL,
    time_zone    text           NOT NULL DEFAULT 'UTC',
    payload      jsonb          NOT NULL DEFAULT '{}',
    queue        text           NOT NULL DEFAULT 'default',
    priority     taskq.priority NOT NULL DEFAULT 'MEDIUM',
    max_attempts integer        NOT NULL DEFAULT 3,
    missed       text           NOT NULL DEFAULT 'once' CONSTRAINT schedules_missed CHECK (missed IN ('once', 'skip')),
    -- NULL: the expression has no tick left before year 9999
    next_run_at  timestamptz,
    last_run_at  timestamptz,
    last_task_id uuid,
    created_at   timestamptz    NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz    NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX schedules_due ON taskq.schedules (next_run_at);

COMMENT ON TABLE taskq.schedules IS
    'Private: one row per schedule, written by taskq.schedule, declare_schedule, unschedule and run_schedules. Read the taskq.schedule_info view.';

-- A parsed cron expression: the values each field allows, sorted; days_star and weekdays_star
-- tell whether the day fields start with * (Vixie cron's rule for combining them).
CREATE TYPE taskq._cron_fields AS (
    seconds integer[],
    minutes integer[],
    hours integer[],
    days integer[],
    months integer[],
    weekdays integer[],
    days_star boolean,
    weekdays_star boolean
);

CREATE FUNCTION taskq._cron_value(token text, what text, low integer, high integer, names text[])
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    value integer;
BEGIN
    IF _cron_value.token ~ '^[0-9]+$' THEN
        value := _cron_value.token::integer;
    ELSE
        value := _cron_value.low - 1 + array_position(_cron_value.names, _cron_value.token);
    END IF;
    IF value IS NULL OR value < _cron_value.low OR value > _cron_value.high THEN
        RAISE EXCEPTION 'cron % field: "%" is not a number from % to %', _cron_value.what, _cron_value.token,
                _cron_value.low, _cron_value.high ||
                CASE WHEN _cron_value.names IS NULL THEN '' ELSE ' or a name (' || array_to_string(_cron_value.names, ', ') || ')' END
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
    END IF;
    RETURN value;
END;
$$;

COMMENT ON FUNCTION taskq._cron_value(text, text, integer, integer, text[]) IS
    'Internal: one value of a cron field, a number or a name (names[1] is low); 22023 naming the field when out of low..high or unknown.';

CREATE FUNCTION taskq._cron_field(field text, what text, low integer, high integer, names text[] DEFAULT NULL)
RETURNS integer[]
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    item text;
    part text[];
    first integer;
    last integer;
    step integer;
    allowed integer[] := '{}';
BEGIN
    FOREACH item IN ARRAY string_to_array(_cron_field.field, ',') LOOP
        -- * or a or a-b, then an optional /step; values are numbers of at most 4 digits or names
        part := regexp_match(item, '^(?:(\*)|([0-9]{1,4}|[a-z]{3})(?:-([0-9]{1,4}|[a-z]{3}))?)(?:/([0-9]{1,4}))?$');
        IF part IS NULL THEN
            RAISE EXCEPTION 'cron % field: "%" is not *, a value, a range a-b or a step */n, a-b/n', _cron_field.what, item
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
        END IF;
        step := coalesce(part[4]::integer, 1);
        IF step < 1 THEN
            RAISE EXCEPTION 'cron % field: the step of "%" must be at least 1', _cron_field.what, item
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
        END IF;
        IF part[1] IS NOT NULL THEN
            first := _cron_field.low;
            last := _cron_field.high;
        ELSE
            first := taskq._cron_value(part[2], _cron_field.what, _cron_field.low, _cron_field.high, _cron_field.names);
            last := CASE WHEN part[3] IS NOT NULL
                         THEN taskq._cron_value(part[3], _cron_field.what, _cron_field.low, _cron_field.high, _cron_field.names)
                         WHEN part[4] IS NOT NULL THEN _cron_field.high
                         ELSE first END;
            IF last < first THEN
                RAISE EXCEPTION 'cron % field: the range "%" ends before it starts', _cron_field.what, item
                    USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
            END IF;
        END IF;
        allowed := allowed || ARRAY(SELECT generate_series(first, last, step));
    END LOOP;
    IF _cron_field.what = 'day-of-week' THEN
        allowed := array_replace(allowed, 7, 0);
    END IF;
    RETURN ARRAY(SELECT DISTINCT v FROM unnest(allowed) AS v ORDER BY v);
END;
$$;

COMMENT ON FUNCTION taskq._cron_field(text, text, integer, integer, text[]) IS
    'Internal: the sorted values a cron field allows (a list of *, a, a-b, */n, a-b/n, a/n); 22023 naming the field for a bad item.';

CREATE FUNCTION taskq._cron_parse(cron text)
RETURNS taskq._cron_fields
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    expression text := lower(btrim(_cron_parse.cron, E' \t\r\n'));
    fields text[];
    parsed taskq._cron_fields;
BEGIN
    IF _cron_parse.cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'cron';
    ELSIF length(_cron_parse.cron) > 1000 THEN
        RAISE EXCEPTION 'cron must be at most 1000 characters, not %', length(_cron_parse.cron)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
    END IF;
    IF expression LIKE '@%' THEN
        expression := CASE expression
            WHEN '@yearly' THEN '0 0 1 1 *' WHEN '@annually' THEN '0 0 1 1 *'
            WHEN '@monthly' THEN '0 0 1 * *' WHEN '@weekly' THEN '0 0 * * 0'
            WHEN '@daily' THEN '0 0 * * *' WHEN '@midnight' THEN '0 0 * * *'
            WHEN '@hourly' THEN '0 * * * *' END;
        IF expression IS NULL THEN
            RAISE EXCEPTION 'cron shorthand "%" is unknown', btrim(_cron_parse.cron, E' \t\r\n')
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron',
                      HINT = 'the shorthands are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly';
        END IF;
    END IF;
    fields := regexp_split_to_array(expression, '\s+');
    IF cardinality(fields) = 5 THEN
        fields := '0'::text || fields;
    ELSIF cardinality(fields) <> 6 OR expression = '' THEN
        RAISE EXCEPTION 'cron expression "%" has % fields, not 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)',
                _cron_parse.cron, CASE WHEN expression = '' THEN 0 ELSE cardinality(fields) END
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
    END IF;
    parsed := ROW(
        taskq._cron_field(fields[1], 'seconds', 0, 59),
        taskq._cron_field(fields[2], 'minute', 0, 59),
        taskq._cron_field(fields[3], 'hour', 0, 23),
        taskq._cron_field(fields[4], 'day-of-month', 1, 31),
        taskq._cron_field(fields[5], 'month', 1, 12,
                          '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}'),
        taskq._cron_field(fields[6], 'day-of-week', 0, 7, '{sun,mon,tue,wed,thu,fri,sat}'),
        fields[4] LIKE '*%',
        fields[6] LIKE '*%');
    -- When the days of the month must match, some month must have one of them (29 February
    -- counts: it comes back within 8 years).
    IF (parsed.days_star OR parsed.weekdays_star)
       AND NOT EXISTS (SELECT 1 FROM unnest(parsed.months) AS m
                       WHERE parsed.days[1] <= CASE WHEN m = 2 THEN 29 WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END) THEN
        RAISE EXCEPTION 'cron expression "%" never matches: no month of the month field has the days of the day-of-month field',
                _cron_parse.cron
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
    END IF;
    RETURN parsed;
END;
$$;

COMMENT ON FUNCTION taskq._cron_parse(text) IS
    'Internal: a cron expression (5 fields, 6 with seconds first, or a shorthand) parsed into the values of each field. 22004 NULL; 22023 naming the bad field, or for an expression that never matches.';

CREATE FUNCTION taskq._check_time_zone(time_zone text)
RETURNS text
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF _check_time_zone.time_zone IS NULL THEN
        RAISE EXCEPTION 'time_zone must not be NULL' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'time_zone';
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE _check_time_zone.time_zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'time zone "%" is unknown', left(_check_time_zone.time_zone, 100)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'time_zone',
                  HINT = 'use an IANA name such as Europe/Paris or UTC (SELECT name FROM pg_timezone_names)';
    END;
    RETURN _check_time_zone.time_zone;
END;
$$;

COMMENT ON FUNCTION taskq._check_time_zone(text) IS
    'Internal: the time zone as given when PostgreSQL knows it; 22004 NULL, 22023 unknown (COLUMN time_zone).';

-- The instant of a local time: the first one whose local time it is (a time that happens twice
-- runs at its first occurrence), or for a time inside a spring-forward gap, the first instant
-- after the gap (where Vixie cron runs it).
CREATE FUNCTION taskq._cron_instant(local timestamp, time_zone text)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    guess timestamptz := _cron_instant.local AT TIME ZONE _cron_instant.time_zone;
    found timestamptz;
    low bigint;
    high bigint;
    middle bigint;
BEGIN
    -- the local time at each UTC offset in force within a day of the guess
    SELECT min(c.at) INTO found
    FROM unnest(ARRAY[guess - interval '1 day', guess, guess + interval '1 day']) AS g (at)
    CROSS JOIN LATERAL (
        SELECT (_cron_instant.local - ((g.at AT TIME ZONE _cron_instant.time_zone) - (g.at AT TIME ZONE 'UTC')))
               AT TIME ZONE 'UTC' AS at
    ) c
    WHERE c.at AT TIME ZONE _cron_instant.time_zone = _cron_instant.local;
    IF found IS NOT NULL THEN
        RETURN found;
    END IF;
    -- a gap: the first second whose local time is past it, found by halving the two days around
    low := floor(extract(epoch FROM guess - interval '1 day'));
    high := ceil(extract(epoch FROM guess + interval '1 day'));
    WHILE high - low > 1 LOOP
        middle := (low + high) / 2;
        IF to_timestamp(middle) AT TIME ZONE _cron_instant.time_zone >= _cron_instant.local THEN
            high := middle;
        ELSE
            low := middle;
        END IF;
    END LOOP;
    RETURN to_timestamp(high);
END;
$$;

COMMENT ON FUNCTION taskq._cron_instant(timestamp, text) IS
    'Internal: the first instant whose local time in time_zone is local, or the end of the spring-forward gap local falls in.';

-- Walks the fields from the largest down: a field that does not match moves to its next
-- allowed value (the smaller fields from their start), or carries into the field above. Months
-- and days are skipped whole, so a tick years away (29 February) takes a few hundred steps.
CREATE FUNCTION taskq._cron_next(fields taskq._cron_fields, time_zone text, after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    t timestamp := date_trunc('second', _cron_next.after AT TIME ZONE _cron_next.time_zone) + interval '1 second';
    stop timestamp := t + interval '100 years';
    midnight timestamp;
    day_matches boolean;
    low timestamp;
    high timestamp;
    middle timestamp;
    v integer;
    found timestamptz;
BEGIN
    LOOP
        IF t >= stop OR t >= '9999-12-31' THEN
            RETURN NULL;
        END IF;
        SELECT min(m) INTO v FROM unnest(fields.months) AS m WHERE m >= extract(month FROM t);
        IF v IS NULL THEN
            t := make_timestamp(extract(year FROM t)::integer + 1, fields.months[1], 1, 0, 0, 0);
            CONTINUE;
        ELSIF v > extract(month FROM t) THEN
            t := make_timestamp(extract(year FROM t)::integer, v, 1, 0, 0, 0);
        END IF;
        midnight := date_trunc('day', t);
        IF fields.days_star OR fields.weekdays_star THEN
            day_matches := extract(day FROM t) = ANY (fields.days) AND extract(dow FROM t) = ANY (fields.weekdays);
        ELSE
            day_matches := extract(day FROM t) = ANY (fields.days) OR extract(dow FROM t) = ANY (fields.weekdays);
        END IF;
        IF NOT day_matches THEN
            t := midnight + interval '1 day';
            CONTINUE;
        END IF;
        SELECT min(h) INTO v FROM unnest(fields.hours) AS h WHERE h >= extract(hour FROM t);
        IF v IS NULL THEN
            t := midnight + interval '1 day';
            CONTINUE;
        ELSIF v > extract(hour FROM t) THEN
            t := midnight + make_interval(hours => v);
        END IF;
        SELECT min(m) INTO v FROM unnest(fields.minutes) AS m WHERE m >= extract(minute FROM t);
        IF v IS NULL THEN
            t := date_trunc('hour', t) + interval '1 hour';
            CONTINUE;
        ELSIF v > extract(minute FROM t) THEN
            t := date_trunc('hour', t) + make_interval(mins => v);
        END IF;
        SELECT min(s) INTO v FROM unnest(fields.seconds) AS s WHERE s >= extract(second FROM t);
        IF v IS NULL THEN
            t := date_trunc('minute', t) + interval '1 minute';
            CONTINUE;
        ELSIF v > extract(second FROM t) THEN
            t := date_trunc('minute', t) + make_interval(secs => v);
        END IF;
        found := taskq._cron_instant(t, _cron_next.time_zone);
        IF found > _cron_next.after THEN
            RETURN found;
        END IF;
        -- t happened twice and its first occurrence is past: so are the next local times, up
        -- to after's in the first pass or the end of the repeated hour, found by halving
        low := t;
        high := date_trunc('second', t + (_cron_next.after - found)) + interval '1 second';
        WHILE high - low > interval '1 second' LOOP
            middle := low + date_trunc('second', (high - low) / 2);
            IF taskq._cron_instant(middle, _cron_next.time_zone) <= _cron_next.after THEN
                low := middle;
            ELSE
                high := middle;
            END IF;
        END LOOP;
        t := high;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION taskq._cron_next(taskq._cron_fields, text, timestamptz) IS
    'Internal: the first tick of the parsed expression strictly after `after`, in time_zone (checked by the caller); NULL when none comes within 100 years or before 9999.';

CREATE FUNCTION taskq.cron_next(cron text, time_zone text DEFAULT 'UTC', after timestamptz DEFAULT now())
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    IF cron_next.after IS NULL THEN
        RAISE EXCEPTION 'after must not be NULL' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'after';
    END IF;
    RETURN taskq._cron_next(taskq._cron_parse(cron_next.cron), taskq._check_time_zone(cron_next.time_zone),
                            cron_next.after);
END;
$$;

COMMENT ON FUNCTION taskq.cron_next(text, text, timestamptz) IS
    'The first tick of a cron expression (5 fields, 6 with seconds first, or @hourly-style) strictly after `after`, in the time zone: a local time skipped by DST runs at the end of the gap, one that happens twice at its first occurrence. NULL when none comes within 100 years. 22004 NULL argument; 22023 bad expression (the message names the field), one that never matches, or an unknown time zone. For taskq_reader.';

CREATE FUNCTION taskq._schedule_settings(schedule taskq.schedules)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT to_jsonb(_schedule_settings.schedule)
           - ARRAY['next_run_at', 'last_run_at', 'last_task_id', 'created_at', 'updated_at']
$$;

COMMENT ON FUNCTION taskq._schedule_settings(taskq.schedules) IS
    'Internal: what a schedule''s audit rows record of it: its settings, not its run times.';

CREATE FUNCTION taskq._schedule(
    name text,
    cron text,
    payload jsonb,
    queue text,
    priority taskq.priority,
    time_zone text,
    max_attempts integer,
    task_name text,
    missed text,
    action text,
    reason text
)
RETURNS taskq.schedules
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    fields taskq._cron_fields := taskq._cron_parse(_schedule.cron);
    zone text := taskq._check_time_zone(_schedule.time_zone);
    target_name text := coalesce(_schedule.task_name, _schedule.name);
    previous taskq.schedules;
    changed taskq.schedules;
    next_run timestamptz;
BEGIN
    PERFORM taskq._check_name(_schedule.name, 'schedule name', 'name');
    PERFORM taskq._check_name(target_name, 'task name', 'task_name');
    PERFORM taskq._check_task(target_name, coalesce(_schedule.payload, '{}'), coalesce(_schedule.max_attempts, 3));
    PERFORM taskq._check_name(coalesce(_schedule.queue, 'default'), 'queue name', 'queue');
    IF coalesce(_schedule.missed, 'once') NOT IN ('once', 'skip') THEN
        RAISE EXCEPTION 'missed must be ''once'' (one task for the missed ticks) or ''skip'', not %',
                quote_literal(_schedule.missed)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'missed';
    END IF;
    next_run := taskq._cron_next(fields, zone, clock_timestamp());
    IF next_run IS NULL THEN
        RAISE EXCEPTION 'cron expression "%" has no tick in the next 100 years', _schedule.cron
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cron';
    END IF;
    SELECT * INTO previous FROM taskq.schedules s WHERE s.name = _schedule.name FOR UPDATE;
    INSERT INTO taskq.schedules AS s (name, task_name, cron, time_zone, payload, queue, priority, max_attempts,
                                      missed, next_run_at)
    VALUES (_schedule.name, target_name, _schedule.cron, zone, coalesce(_schedule.payload, '{}'),
            coalesce(_schedule.queue, 'default'), coalesce(_schedule.priority, 'MEDIUM'),
            coalesce(_schedule.max_attempts, 3), coalesce(_schedule.missed, 'once'), next_run)
    ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
    SET task_name = excluded.task_name, cron = excluded.cron, time_zone = excluded.time_zone,
        payload = excluded.payload, queue = excluded.queue, priority = excluded.priority,
        max_attempts = excluded.max_attempts, missed = excluded.missed,
        -- the same ticks: a tick already due is kept for run_schedules (NULL, left by a
        -- run that could not parse it: the next tick from now)
        next_run_at = CASE WHEN (s.cron, s.time_zone) = (excluded.cron, excluded.time_zone)
                           THEN coalesce(s.next_run_at, excluded.next_run_at)
                           ELSE excluded.next_run_at END,
        updated_at = clock_timestamp()
    RETURNING s.* INTO changed;
    IF _schedule.action = 'schedule'
       OR taskq._schedule_settings(previous) IS DISTINCT FROM taskq._schedule_settings(changed) THEN
        PERFORM taskq._audit(_schedule.action, NULL, changed.queue,
                             CASE WHEN previous.name IS NOT NULL THEN taskq._schedule_settings(previous) END,
                             taskq._schedule_settings(changed), _schedule.reason);
    END IF;
    PERFORM pg_notify('taskq_schedules', changed.name);
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION taskq._schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text, text) IS
    'Internal: the body of schedule and declare_schedule: checks the arguments, creates or replaces the schedule, writes its audit row (action schedule always; declare_schedule only for a change), NOTIFYs taskq_schedules.';

CREATE FUNCTION taskq.schedule(
    name text,
    cron text,
    payload jsonb DEFAULT '{}',
    queue text DEFAULT 'default',
    priority taskq.priority DEFAULT 'MEDIUM',
    time_zone text DEFAULT 'UTC',
    max_attempts integer DEFAULT 3,
    task_name text DEFAULT NULL,
    missed text DEFAULT 'once',
    reason text DEFAULT NULL
)
RETURNS taskq.schedules
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT taskq._schedule(schedule.name, schedule.cron, schedule.payload, schedule.queue, schedule.priority,
                           schedule.time_zone, schedule.max_attempts, schedule.task_name, schedule.missed,
                           'schedule', schedule.reason)
$$;

COMMENT ON FUNCTION taskq.schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text) IS
    'Creates or replaces the schedule called name: a task task_name (default name) enqueued at each tick of cron in time_zone; returns its row with next_run_at. Replacing keeps next_run_at when cron and time_zone are unchanged. missed: ''once'' (one task for ticks missed while nothing ran) or ''skip''. One audit row with the reason. 22004 / 22023 bad arguments (cron names the field), 22001 reason over 1000 characters. For taskq_admin.';

CREATE FUNCTION taskq.declare_schedule(
    name text,
    cron text,
    payload jsonb DEFAULT '{}',
    queue text DEFAULT 'default',
    priority taskq.priority DEFAULT 'MEDIUM',
    time_zone text DEFAULT 'UTC',
    max_attempts integer DEFAULT 3,
    task_name text DEFAULT NULL,
    missed text DEFAULT 'once'
)
RETURNS taskq.schedules
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT taskq._schedule(declare_schedule.name, declare_schedule.cron, declare_schedule.payload,
                           declare_schedule.queue, declare_schedule.priority, declare_schedule.time_zone,
                           declare_schedule.max_attempts, declare_schedule.task_name, declare_schedule.missed,
                           'declare_schedule', NULL)
$$;

COMMENT ON FUNCTION taskq.declare_schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text) IS
    'schedule for the workers, which declare the schedules of their handlers (@task(cron=...)) when they start: an audit row only when it creates or changes the schedule. For taskq_worker.';

CREATE FUNCTION taskq.unschedule(name text, reason text DEFAULT NULL)
RETURNS taskq.schedules
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    removed taskq.schedules;
BEGIN
    DELETE FROM taskq.schedules s WHERE s.name = unschedule.name RETURNING s.* INTO removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule % does not exist', quote_literal(left(unschedule.name, 200))
            USING ERRCODE = 'no_data_found', TABLE = 'schedules';
    END IF;
    PERFORM taskq._audit('unschedule', NULL, removed.queue, taskq._schedule_settings(removed), NULL,
                         unschedule.reason);
    PERFORM pg_notify('taskq_schedules', removed.name);
    RETURN removed;
END;
$$;

COMMENT ON FUNCTION taskq.unschedule(text, text) IS
    'Removes a schedule and returns its last row; tasks it enqueued stay. One audit row with the reason. P0002 unknown schedule; 22001 reason over 1000 characters. For taskq_admin.';

CREATE VIEW taskq.schedule_info AS
SELECT s.name, s.task_name, s.cron, s.time_zone, s.payload, s.queue, s.priority, s.max_attempts, s.missed,
       s.next_run_at, s.next_run_at AT TIME ZONE s.time_zone AS next_run_local, s.last_run_at, s.last_task_id,
       s.created_at, s.updated_at
FROM taskq.schedules s;

COMMENT ON VIEW taskq.schedule_info IS
    'The schedules: what each enqueues (task_name, payload, queue, priority, max_attempts), when (cron in time_zone), its next run in UTC and in its zone (next_run_local), its last tick and task. For taskq_reader.';

CREATE FUNCTION taskq.get_schedule(name text)
RETURNS taskq.schedule_info
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    info taskq.schedule_info;
BEGIN
    SELECT * INTO info FROM taskq.schedule_info i WHERE i.name = get_schedule.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule % does not exist', quote_literal(left(get_schedule.name, 200))
            USING ERRCODE = 'no_data_found', TABLE = 'schedules';
    END IF;
    RETURN info;
END;
$$;

COMMENT ON FUNCTION taskq.get_schedule(text) IS
    'The schedule''s row of taskq.schedule_info. P0002 unknown schedule. For taskq_reader.';

-- A tick due longer than this was missed: nothing called run_schedules meanwhile.
CREATE FUNCTION taskq._schedule_grace() RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT interval '1 minute'
$$;

COMMENT ON FUNCTION taskq._schedule_grace() IS
    'Internal: how late a tick may be found due and still be on time (its own task); a later one is missed.';

CREATE FUNCTION taskq._run_schedule(due taskq.schedules, at timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    fields taskq._cron_fields := taskq._cron_parse(_run_schedule.due.cron);
    tick timestamptz := _run_schedule.due.next_run_at;
    missed boolean := _run_schedule.at - tick > taskq._schedule_grace();
    next_tick timestamptz;
    task_id uuid;
    made integer := 0;
BEGIN
    IF missed AND due.missed = 'skip' THEN
        next_tick := taskq._cron_next(fields, due.time_zone, _run_schedule.at);
    ELSE
        LOOP
            task_id := taskq.enqueue(
                name => due.task_name,
                payload => due.payload || jsonb_build_object('_schedule', jsonb_build_object(
                    'name', due.name,
                    'tick', to_char(tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                    'missed', missed)),
                priority => due.priority,
                scheduled_at => tick,
                queue => due.queue,
                max_attempts => due.max_attempts);
            made := made + 1;
            -- a missed tick's task stands for every tick up to now
            next_tick := taskq._cron_next(fields, due.time_zone, CASE WHEN missed THEN _run_schedule.at ELSE tick END);
            EXIT WHEN next_tick IS NULL OR next_tick > _run_schedule.at;
            tick := next_tick;
        END LOOP;
    END IF;
    UPDATE taskq.schedules s
    SET next_run_at = next_tick,
        last_run_at = CASE WHEN task_id IS NULL THEN s.last_run_at ELSE tick END,
        last_task_id = coalesce(task_id, s.last_task_id)
    WHERE s.name = due.name;
    RETURN made;
END;
$$;

COMMENT ON FUNCTION taskq._run_schedule(taskq.schedules, timestamptz) IS
    'Internal: enqueues the ticks of one due schedule (locked by the caller) up to at, or none for missed ticks of a skip schedule, and moves its next_run_at on; returns how many tasks it enqueued.';

CREATE FUNCTION taskq._run_schedules(at timestamptz)
RETURNS TABLE (enqueued integer, next_run_at timestamptz)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    due taskq.schedules;
    next_tick timestamptz;
    made integer := 0;
    failure text;
    failure_state text;
BEGIN
    -- One schedule at a time, locked: a concurrent call skips it and takes another, or finds
    -- it no longer due once this transaction has moved its next_run_at on. So each tick is
    -- enqueued once, in the transaction that moves past it.
    LOOP
        SELECT s.* INTO due FROM taskq.schedules s
        WHERE s.next_run_at <= _run_schedules.at
        ORDER BY s.next_run_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        EXIT WHEN NOT FOUND;
        -- A subtransaction per schedule: one whose enqueue raises (its stored arguments no
        -- longer valid) is rolled back alone, and the others are still enqueued.
        BEGIN
            made := made + taskq._run_schedule(due, at);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE;
            -- A transient failure (a deadlock, a serialization failure, resources, a shutdown)
            -- fails the whole call, as before: its ticks stay due for the next call.
            IF left(failure_state, 2) IN ('40', '53', '57', '58', 'XX') THEN
                RAISE;
            END IF;
            -- Its due ticks are skipped: next_run_at moves past now, so that the schedule is
            -- not tried again at once, by this loop or by every worker's next turn; the next
            -- tick tries again. No next tick (a cron or zone that no longer parses): NULL.
            BEGIN
                next_tick := taskq._cron_next(taskq._cron_parse(due.cron), due.time_zone, at);
            EXCEPTION WHEN OTHERS THEN
                next_tick := NULL;
            END;
            UPDATE taskq.schedules s SET next_run_at = next_tick WHERE s.name = due.name;
            RAISE WARNING 'schedule % was not run: % (SQLSTATE %)', quote_literal(due.name), failure, failure_state
                USING DETAIL = format('its ticks due from %s to %s are skipped; its next run is %s',
                                      due.next_run_at, at, coalesce(next_tick::text, 'none')),
                      HINT = 'fix the schedule with taskq.schedule (or what it enqueues into), or remove it with taskq.unschedule';
        END;
    END LOOP;
    RETURN QUERY SELECT made, (SELECT min(s.next_run_at) FROM taskq.schedules s);
END;
$$;

COMMENT ON FUNCTION taskq._run_schedules(timestamptz) IS
    'Internal: run_schedules as of the moment at, for tests that move the clock; the owner''s only, as a caller''s clock would move every schedule (infinity: all of them for ever).';

-- No moment from the caller: a role that may run the schedules may not move their clock.
CREATE FUNCTION taskq.run_schedules()
RETURNS TABLE (enqueued integer, next_run_at timestamptz)
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
    SELECT r.enqueued, r.next_run_at FROM taskq._run_schedules(clock_timestamp()) r
$$;

COMMENT ON FUNCTION taskq.run_schedules() IS
    'Enqueues the due ticks of every schedule, each once however many callers run at the same time (rows locked FOR UPDATE SKIP LOCKED, next_run_at moved on in the same transaction); a tick missed (due over a minute) is folded with the later ones into one task (missed once) or skipped (missed skip). A schedule whose enqueue raises is rolled back alone, with a WARNING naming it, and its due ticks skipped (next_run_at moves past now); the others still run. Returns how many tasks it enqueued and the earliest next run, by the database clock. For taskq_worker.';

GRANT EXECUTE ON FUNCTION
    taskq.run_schedules(),
    taskq.declare_schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text)
TO taskq_worker;
GRANT EXECUTE ON FUNCTION taskq.cron_next(text, text, timestamptz), taskq.get_schedule(text) TO taskq_reader;
GRANT SELECT ON taskq.schedule_info TO taskq_reader;
GRANT EXECUTE ON FUNCTION
    taskq.schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text),
    taskq.unschedule(text, text)
TO taskq_admin;

COMMIT;
