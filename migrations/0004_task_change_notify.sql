-- Ingress processes keep rendered task-list pages for at most a second; every change to a
-- board's tasks (from any ingress process, the worker, or a cascade) notifies them on channel
-- `task_changes` with the board id, so they drop that board's pages at once. One
-- notification per board per statement (the worker inserts tasks in batches); PostgreSQL
-- folds identical notifications of one transaction into one. TRUNCATE notifies '' (all boards).

CREATE FUNCTION tasks_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('task_changes', '');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('task_changes', b.board_id::text)
            FROM (SELECT DISTINCT board_id FROM old_rows) b;
    ELSE
        PERFORM pg_notify('task_changes', b.board_id::text)
            FROM (SELECT DISTINCT board_id FROM new_rows) b;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_notify_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_changes();
CREATE TRIGGER tasks_notify_update AFTER UPDATE ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_changes();
CREATE TRIGGER tasks_notify_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_changes();
CREATE TRIGGER tasks_notify_truncate AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_changes();
