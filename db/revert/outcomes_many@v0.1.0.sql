-- Revert taskq:outcomes_many
BEGIN;
DROP FUNCTION taskq.fail_many(jsonb);
DROP FUNCTION taskq.complete_many(jsonb);
DROP FUNCTION taskq._settle_many(text, uuid[], taskq.tasks[], text);
DROP FUNCTION taskq._check_outcomes(jsonb, text, text[], text[]);
COMMIT;
