-- Revert taskq:workers from pg: back to v0.1.0's register_worker(name, queues, host, pid).
BEGIN;

DROP FUNCTION taskq.register_worker(text, text[], text, integer, text[]);

CREATE FUNCTION taskq.register_worker(name text, queues text[] DEFAULT NULL, host text DEFAULT NULL, pid integer DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
DECLARE
    new_id uuid;
BEGIN
    IF register_worker.name IS NULL OR btrim(register_worker.name) = '' THEN
        RAISE EXCEPTION 'a worker needs a non-empty name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO taskq.workers AS w (name, queues, host, pid)
    VALUES (register_worker.name, register_worker.queues, register_worker.host, register_worker.pid)
    RETURNING w.id INTO new_id;
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION taskq.register_worker(text, text[], text, integer) IS
    'Registers a worker; returns its id for claim_next, heartbeat and unregister_worker. 22023 for an empty name.';

ALTER TABLE taskq.workers DROP COLUMN task_names;

COMMIT;
