-- Revert taskq:schedules from pg
BEGIN;

SET LOCAL ROLE taskq_owner;

DROP FUNCTION taskq.run_schedules();
DROP FUNCTION taskq._run_schedules(timestamptz);
DROP FUNCTION taskq._run_schedule(taskq.schedules, timestamptz);
DROP FUNCTION taskq._schedule_grace();
DROP FUNCTION taskq.get_schedule(text);
DROP VIEW taskq.schedule_info;
DROP FUNCTION taskq.unschedule(text, text);
DROP FUNCTION taskq.declare_schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text);
DROP FUNCTION taskq.schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text);
DROP FUNCTION taskq._schedule(text, text, jsonb, text, taskq.priority, text, integer, text, text, text, text);
DROP FUNCTION taskq._schedule_settings(taskq.schedules);
DROP FUNCTION taskq.cron_next(text, text, timestamptz);
DROP FUNCTION taskq._cron_next(taskq._cron_fields, text, timestamptz);
DROP FUNCTION taskq._cron_instant(timestamp, text);
DROP FUNCTION taskq._check_time_zone(text);
DROP FUNCTION taskq._cron_parse(text);
DROP FUNCTION taskq._cron_field(text, text, integer, integer, text[]);
DROP FUNCTION taskq._cron_value(text, text, integer, integer, text[]);
DROP TYPE taskq._cron_fields;
DROP TABLE taskq.schedules;

COMMIT;
