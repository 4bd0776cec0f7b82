-- Revert taskq:uuid_v7 from pg: back to v0.1.0's uuid_v7, without the time checks.
BEGIN;

CREATE OR REPLACE FUNCTION taskq.uuid_v7(at timestamptz DEFAULT clock_timestamp())
RETURNS uuid
LANGUAGE sql
VOLATILE PARALLEL SAFE
AS $$
    -- One expression, so that the planner inlines it into the statement that calls it
    -- (enqueue_many makes an id per row): 32 hex digits, which uuid's input accepts.
    SELECT (lpad(to_hex(floor(extract(epoch FROM uuid_v7.at) * 1000)::bigint), 12, '0')
            -- the version nibble 7 (0x7000) and the 12-bit fraction of the millisecond
            || to_hex(28672 + ((floor(extract(epoch FROM uuid_v7.at) * 1000000)::bigint % 1000) * 4096 / 1000)::int)
            -- gen_random_uuid() is version 4: from its 17th hex digit on come the variant
            -- bits and 62 random bits, exactly the tail a version 7 id needs.
            || substr(replace(gen_random_uuid()::text, '-', ''), 17))::uuid
$$;

COMMENT ON FUNCTION taskq.uuid_v7(timestamptz) IS
    'A UUIDv7 (RFC 9562) for the given instant, with 12 bits of sub-millisecond precision so that ids made one after another sort in creation order.';

DROP FUNCTION taskq._check_until(timestamptz, interval, text, text);
DROP FUNCTION taskq._until_problem(interval, text, text);
DROP FUNCTION taskq._check_time(timestamptz, text, text, timestamptz);
DROP FUNCTION taskq._time_problem(timestamptz, text, text, timestamptz);

COMMIT;
