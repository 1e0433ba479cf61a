-- Ingress processes remember verified agent tokens briefly and poll for credential changes
-- (a new token, another board, the lead flag) and deletions, so a rotated or deleted token
-- stops working on every process within seconds.

ALTER TABLE agents ADD COLUMN auth_changed_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX agents_auth_changed_idx ON agents (auth_changed_at);

CREATE TABLE agent_tombstones (
    agent_id   uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX agent_tombstones_deleted_idx ON agent_tombstones (deleted_at);

-- last_seen_at/status writes do not touch auth_changed_at: they would wake every poller.
CREATE FUNCTION agents_auth_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.token_key_id IS DISTINCT FROM OLD.token_key_id
        OR NEW.token_hash IS DISTINCT FROM OLD.token_hash
        OR NEW.board_id IS DISTINCT FROM OLD.board_id
        OR NEW.is_board_lead IS DISTINCT FROM OLD.is_board_lead THEN
        NEW.auth_changed_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER agents_auth_touch BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_auth_touch();

CREATE FUNCTION agents_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO agent_tombstones (agent_id) VALUES (OLD.id)
        ON CONFLICT (agent_id) DO UPDATE SET deleted_at = clock_timestamp();
    RETURN OLD;
END $$;
CREATE TRIGGER agents_tombstone AFTER DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_tombstone();
