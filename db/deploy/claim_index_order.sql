-- Deploy taskq:claim_index_order
-- requires: claim
--
-- claim_next reads each queue in the order of the tasks_claimable index and never sorts the
-- backlog. Its per-queue LIMIT comes from a join (the queue's free slots), so the planner
-- guesses that a claim fetches a tenth of the due tasks; once the table also keeps many
-- finished tasks, reading every due task through tasks_scheduled and sorting them looks cheaper
-- to it, and each claim then costs time in proportion to the backlog (make bench: 10k queued
-- beside 1M COMPLETED rows, claim p50 6.9 ms instead of 1.8 ms). enable_sort = off, for the
-- duration of a claim_next call only, makes the index-ordered path win whatever the statistics
-- say; the sorts that have no alternative (of a few rows, in the small CTEs) still run.
-- Before PostgreSQL 18 a disabled sort still adds 1e10 to the estimated cost, which passes
-- jit_above_cost and would JIT-compile every claim (0.5 s a call on PostgreSQL 15); jit = off
-- for the call keeps it a short OLTP statement on every version.
-- Planning the claim statement (nine CTEs) took longer than running it: about 0.4 ms of a
-- 0.9 ms claim of one task (make bench, PostgreSQL 18). plan_cache_mode = force_generic_plan
-- plans it once per session. The generic plan does not know batch_size, so it guesses that a
-- claim takes thousands of rows and would find them by reading the whole table into a hash;
-- enable_seqscan = off and enable_hashjoin = off keep it on the primary key, row by row, as a
-- claim of a batch needs. A claim of one task then takes about 0.45 ms, of fifty 20 % less.
-- Changes no function body; raises nothing.
BEGIN;

ALTER FUNCTION taskq.claim_next(uuid, text[], text[], interval, integer)
    SET enable_sort = off
    SET jit = off
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
    SET enable_hashjoin = off;

COMMIT;
