-- Deploy taskq:uuid_v7 to pg
-- requires: schema
--
-- taskq.uuid_v7(at timestamptz = clock_timestamp()) returns uuid
-- A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, the version nibble, 12 bits of
-- sub-millisecond fraction (RFC 9562 section 6.2, method 3), the variant, then 62 random bits.
-- The 12-bit fraction (about 0.25 microseconds a step) makes ids made one after another in one
-- session sort in creation order. PostgreSQL 18 has uuidv7(); 15 does not, so this is plain SQL.
-- Raises nothing.
BEGIN;

CREATE FUNCTION taskq.uuid_v7(at timestamptz DEFAULT clock_timestamp())
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

COMMIT;
