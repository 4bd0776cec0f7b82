-- Deploy taskq:name_estimate to pg
-- requires: claim
--
-- A claim of given names reads each name's due tasks through tasks_claimable_by_name (queue,
-- name, ...). Its plan is made once per session for any names (plan_cache_mode =
-- force_generic_plan), so the planner guesses the share of a name's tasks from the number of
-- distinct names ANALYZE saw. With a single name in the table (one application's tasks), that
-- guess is every row for any name, tasks_claimable (queue, priority, ...) looks as good and is
-- smaller, and the claim then read the whole backlog once for each name the worker handles and
-- the queue does not hold (the built-ins echo, sleep, fail): 13.9 ms instead of 0.47 ms for a
-- claim of 200 beside 20,000 queued tasks (make bench: the claim took 66 µs a task in a drain).
-- n_distinct = 100 tells the planner that a name is a small share of the table, whatever
-- ANALYZE counts, so the name's own index wins. It changes estimates only: no plan of another
-- function reads tasks by name alone.
BEGIN;

ALTER TABLE taskq.tasks ALTER COLUMN name SET (n_distinct = 100);
ANALYZE taskq.tasks;

COMMIT;
