-- Deploy taskq:schema
-- Creates the schema `taskq` that holds every table, type, function and view of the queue.
-- Apps call the functions and read the views; the tables are private to the schema owner.
BEGIN;

CREATE SCHEMA taskq;
COMMENT ON SCHEMA taskq IS 'taskq: a task queue in PostgreSQL. Call the functions, read the views; the tables are private.';
GRANT USAGE ON SCHEMA taskq TO PUBLIC;

COMMIT;
