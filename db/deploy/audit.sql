-- Deploy taskq:audit to pg
-- requires: schema
--
-- The audit trail: one row for every admin act (pause, resume, cancel, retry, set_concurrency,
-- pause_queue, resume_queue; set_retention and prune, from taskq:retention), written in the transaction of the act, so that the act and its
-- row commit or roll back together; a refused act writes none. Workers' and producers' calls
-- (enqueue, claim, complete, fail, heartbeat) write none.
--   taskq.audit_log (private) holds the rows: at (clock_timestamp() of the act), action (the
--       function's name), task_id (task acts) and queue (the task's queue, or the queue of a
--       queue act), before and after (jsonb: what the act changed, as it found it and left it),
--       db_user (session_user: the login role, not the functions' owner), actor (the
--       transaction's or session's taskq.actor setting; NULL when unset or blank) and reason.
--       Rows outlive the tasks they name (no foreign key): they are removed by age (at), by the
--       retention of the queue's history.
--   taskq.audit is the view people and apps read; newest first is ORDER BY at DESC, id DESC
--       (index audit_log_at) or id DESC; by task: audit_log_task, by queue: audit_log_queue.
--   taskq._audit(action, task_id, queue, before, after, reason) writes one row; every admin
--       act calls it. A blank reason is NULL; raises 22001 for a reason over 1000 characters
--       (COLUMN reason) or a taskq.actor over 128 (COLUMN actor).
--   taskq.list_audit(task_id, queue, action, since, before, after, page_size) returns a keyset
--       page of the view newest first (by id), one row (entry, next_cursor) per entry: rows with
--       at in [since, before) and id below after, matching every filter given; next_cursor is
--       the after of the next page, the same on every row, NULL when no row follows. 22023 for
--       a page_size outside 1..1000.
BEGIN;

CREATE TABLE taskq.audit_log (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    action   text        NOT NULL CONSTRAINT audit_log_action_named CHECK (action ~ '^[a-z_]{1,64}$'),
    task_id  uuid,
    queue    text,
    before   jsonb       CONSTRAINT audit_log_before_object CHECK (jsonb_typeof(before) = 'object'),
    after    jsonb       CONSTRAINT audit_log_after_object CHECK (jsonb_typeof(after) = 'object'),
    db_user  text        NOT NULL DEFAULT session_user,
    actor    text        CONSTRAINT audit_log_actor_length CHECK (length(actor) <= 128),
    reason   text        CONSTRAINT audit_log_reason_length CHECK (length(reason) <= 1000)
);

-- newest first, the since/before bounds, and the removal of rows older than a retention
CREATE INDEX audit_log_at ON taskq.audit_log (at, id);
CREATE INDEX audit_log_task ON taskq.audit_log (task_id, id) WHERE task_id IS NOT NULL;
CREATE INDEX audit_log_queue ON taskq.audit_log (queue, id) WHERE queue IS NOT NULL;

COMMENT ON TABLE taskq.audit_log IS
    'Private: one row per admin act, written by taskq._audit. Read the taskq.audit view.';

CREATE VIEW taskq.audit AS
SELECT a.id, a.at, a.action, a.task_id, a.queue, a.before, a.after, a.db_user, a.actor, a.reason
FROM taskq.audit_log a;

COMMENT ON VIEW taskq.audit IS
    'The audit trail: one row per admin act (pause, resume, cancel, retry, set_concurrency, pause_queue, resume_queue, set_retention, prune): when (at), what (action), on which task_id / queue, the values before and after, who (db_user = session_user, actor = the taskq.actor setting) and why (reason). Newest first: ORDER BY at DESC, id DESC. For taskq_reader.';

CREATE FUNCTION taskq._audit(
    action text,
    task_id uuid,
    queue text,
    before jsonb,
    after jsonb,
    reason text DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    -- missing_ok: NULL when the setting was never made; '' after a SET LOCAL's transaction ended
    who text := nullif(btrim(current_setting('taskq.actor', true), E' \t\r\n'), '');
    why text := nullif(btrim(_audit.reason, E' \t\r\n'), '');
BEGIN
    IF length(who) > 128 THEN
        RAISE EXCEPTION 'taskq.actor must be at most 128 characters, not %', length(who)
            USING ERRCODE = 'string_data_right_truncation', COLUMN = 'actor';
    END IF;
    IF jsonb_typeof(_audit.before) <> 'object' OR jsonb_typeof(_audit.after) <> 'object' THEN
        RAISE EXCEPTION 'before and after must be JSON objects (or NULL), not % and %',
                coalesce(jsonb_typeof(_audit.before), 'NULL'), coalesce(jsonb_typeof(_audit.after), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  COLUMN = CASE WHEN jsonb_typeof(_audit.before) <> 'object' THEN 'before' ELSE 'after' END;
    END IF;
    IF length(why) > 1000 THEN
        RAISE EXCEPTION 'reason must be at most 1000 characters, not %', length(why)
            USING ERRCODE = 'string_data_right_truncation', COLUMN = 'reason';
    END IF;
    INSERT INTO taskq.audit_log (action, task_id, queue, before, after, actor, reason)
    VALUES (_audit.action, _audit.task_id, _audit.queue, _audit.before, _audit.after, who, why);
END;
$$;

COMMENT ON FUNCTION taskq._audit(text, uuid, text, jsonb, jsonb, text) IS
    'Internal (for no role; the admin functions call it): writes one audit row for an act, stamped with clock_timestamp(), session_user and the taskq.actor setting (NULL when unset or blank). A blank reason is NULL. 22001 for a reason over 1000 characters (COLUMN reason) or a taskq.actor over 128 (COLUMN actor); 22023 for a before or after that is not a JSON object (COLUMN before or after).';

CREATE FUNCTION taskq.list_audit(
    task_id uuid DEFAULT NULL,
    queue text DEFAULT NULL,
    action text DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    before timestamptz DEFAULT NULL,
    after bigint DEFAULT NULL,
    page_size integer DEFAULT 50
)
RETURNS TABLE (entry taskq.audit, next_cursor bigint)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = taskq, pg_temp
AS $$
BEGIN
    IF list_audit.page_size IS NULL OR list_audit.page_size < 1 OR list_audit.page_size > 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000, not %', coalesce(list_audit.page_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'page_size';
    END IF;
    -- one row past the page tells whether another page follows
    RETURN QUERY
    WITH page AS (
        SELECT a AS entry, row_number() OVER (ORDER BY a.id DESC) AS n
        FROM taskq.audit a
        WHERE (list_audit.task_id IS NULL OR a.task_id = list_audit.task_id)
          AND (list_audit.queue IS NULL OR a.queue = list_audit.queue)
          AND (list_audit.action IS NULL OR a.action = list_audit.action)
          AND (list_audit.since IS NULL OR a.at >= list_audit.since)
          AND (list_audit.before IS NULL OR a.at < list_audit.before)
          AND (list_audit.after IS NULL OR a.id < list_audit.after)
        ORDER BY a.id DESC
        LIMIT list_audit.page_size + 1
    )
    SELECT p.entry,
           (SELECT (e.entry).id FROM page e WHERE e.n = list_audit.page_size
            AND EXISTS (SELECT 1 FROM page f WHERE f.n > list_audit.page_size))
    FROM page p
    WHERE p.n <= list_audit.page_size
    ORDER BY p.n;
END;
$$;

COMMENT ON FUNCTION taskq.list_audit(uuid, text, text, timestamptz, timestamptz, bigint, integer) IS
    'A keyset page of 1 to 1000 rows of taskq.audit, newest first (by id): at in [since, before), id below after (NULL: from the newest), matching every filter given; next_cursor is the after of the next page (the same on every row), NULL when no row follows. 22023 for a page_size outside 1..1000. For taskq_reader.';

COMMIT;
