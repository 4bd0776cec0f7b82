-- Deploy taskq:uuid_v7 to pg (reworked after v0.1.0)
-- requires: uuid_v7@v0.1.0
--
-- The times taskq accepts, and uuid_v7 within them.
--   taskq._check_time(at, what, field) returns at when it is NULL or between 0001-01-01 and
--       9999-12-31 (UTC, to the microsecond): what a Python datetime holds, so that the worker,
--       the API and the client can read every time taskq stores. Else it raises 22008
--       (datetime_field_overflow) naming what and the range, with COLUMN = field (the parameter,
--       or tasks[i].scheduled_at): infinity, -infinity, a BC date and a year past 9999 are
--       refused where they come in, not where they are read.
--   taskq._check_until(at, delay, what, field) returns at + delay, or raises 22008 when that would fall
--       after 9999-12-31 UTC (a lease or retry_delay of infinity, or of ten thousand years).
--   taskq.uuid_v7(at) as before, for an instant from 1970-01-01 (a UUIDv7 counts milliseconds
--       since then) to 9999-12-31 UTC; 22008 outside (infinity raised 0A000 before).
BEGIN;

CREATE FUNCTION taskq._time_problem(at timestamptz, what text, field text, earliest timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION '% must be between % and 9999-12-31 UTC, not %', _time_problem.what,
            to_char(_time_problem.earliest AT TIME ZONE 'UTC', 'YYYY-MM-DD'), _time_problem.at
        USING ERRCODE = 'datetime_field_overflow', COLUMN = _time_problem.field;
END;
$$;

COMMENT ON FUNCTION taskq._time_problem(timestamptz, text, text, timestamptz) IS
    'Internal: raises 22008 naming a time outside the range taskq accepts; _check_time calls it only for such a time.';

-- One SQL expression, so that the planner inlines it (enqueue_many checks a time per row).
CREATE FUNCTION taskq._check_time(at timestamptz, what text, field text, earliest timestamptz DEFAULT '0001-01-01 00:00:00+00')
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN _check_time.at IS NULL
                  OR (_check_time.at >= _check_time.earliest AND _check_time.at < '10000-01-01 00:00:00+00')
                THEN _check_time.at
                ELSE taskq._time_problem(_check_time.at, _check_time.what, _check_time.field, _check_time.earliest) END
$$;

COMMENT ON FUNCTION taskq._check_time(timestamptz, text, text, timestamptz) IS
    'Internal: the time itself when NULL or between 0001-01-01 (or earliest) and 9999-12-31 UTC; else 22008 naming what, COLUMN = field.';

CREATE FUNCTION taskq._until_problem(delay interval, what text, field text)
RETURNS timestamptz
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION '% of % would end after 9999-12-31 UTC, the latest time taskq accepts', _until_problem.what,
            _until_problem.delay
        USING ERRCODE = 'datetime_field_overflow', COLUMN = _until_problem.field;
END;
$$;

COMMENT ON FUNCTION taskq._until_problem(interval, text, text) IS
    'Internal: raises 22008 for a delay that ends after 9999-12-31 UTC; _check_until calls it only for such a delay.';

-- The delay is compared first, so that at + delay cannot overflow PostgreSQL's own range.
CREATE FUNCTION taskq._check_until(at timestamptz, delay interval, what text, field text)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN _check_until.delay < timestamptz '10000-01-01 00:00:00+00' - _check_until.at
                THEN taskq._check_time(_check_until.at + _check_until.delay, _check_until.what || '''s end',
                                       _check_until.field)
                WHEN _check_until.at IS NULL OR _check_until.delay IS NULL THEN NULL
                ELSE taskq._until_problem(_check_until.delay, _check_until.what, _check_until.field) END
$$;

COMMENT ON FUNCTION taskq._check_until(timestamptz, interval, text, text) IS
    'Internal: at + delay, or 22008 naming what (COLUMN = field) when that falls after 9999-12-31 UTC.';

CREATE OR REPLACE FUNCTION taskq.uuid_v7(at timestamptz DEFAULT clock_timestamp())
RETURNS uuid
LANGUAGE sql
VOLATILE PARALLEL SAFE
AS $$
    -- One expression, so that the planner inlines it into the statement that calls it
    -- (enqueue_many makes an id per row): 32 hex digits, which uuid's input accepts.
    SELECT (lpad(to_hex(floor(extract(epoch FROM taskq._check_time(uuid_v7.at, 'uuid_v7''s time', 'at', '1970-01-01 00:00:00+00')) * 1000)::bigint), 12, '0')
            -- the version nibble 7 (0x7000) and the 12-bit fraction of the millisecond
            || to_hex(28672 + ((floor(extract(epoch FROM uuid_v7.at) * 1000000)::bigint % 1000) * 4096 / 1000)::int)
            -- gen_random_uuid() is version 4: from its 17th hex digit on come the variant
            -- bits and 62 random bits, exactly the tail a version 7 id needs.
            || substr(replace(gen_random_uuid()::text, '-', ''), 17))::uuid
$$;

COMMENT ON FUNCTION taskq.uuid_v7(timestamptz) IS
    'A UUIDv7 (RFC 9562) for the given instant, with 12 bits of sub-millisecond precision so that ids made one after another sort in creation order. 22008 for an instant outside 1970-01-01 .. 9999-12-31 UTC.';

COMMIT;
