-- Boards, their agents and webhooks, the deliveries webhooks receive, and the work they become.

CREATE TABLE boards (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id            uuid PRIMARY KEY,
    board_id      uuid NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_board_lead boolean NOT NULL DEFAULT false,
    -- The token's non-secret key id finds the row in O(1); only a PBKDF2 hash is kept.
    token_key_id  text NOT NULL UNIQUE,
    token_hash    text NOT NULL,
    status        text NOT NULL DEFAULT 'offline',
    last_seen_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_board_idx ON agents (board_id);

CREATE TABLE webhooks (
    id                         uuid PRIMARY KEY,
    board_id                   uuid NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    agent_id                   uuid REFERENCES agents (id) ON DELETE SET NULL,
    description                text NOT NULL DEFAULT '',
    enabled                    boolean NOT NULL DEFAULT true,
    secret                     text,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    signature_header           text,
    signature_scheme           text NOT NULL DEFAULT 'hmac-sha256',
    timestamp_tolerance_seconds integer NOT NULL DEFAULT 300
        CHECK (timestamp_tolerance_seconds BETWEEN 1 AND 86400),
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhooks_board_idx ON webhooks (board_id);
CREATE INDEX webhooks_updated_idx ON webhooks (updated_at);

-- Ingress processes cache webhook configuration and poll for changes by updated_at;
-- deletions leave a tombstone so the caches forget the webhook too.
CREATE TABLE webhook_tombstones (
    webhook_id uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_tombstones_deleted_idx ON webhook_tombstones (deleted_at);

CREATE FUNCTION webhooks_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;
CREATE TRIGGER webhooks_touch BEFORE UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION webhooks_touch();

CREATE FUNCTION webhooks_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_tombstones (webhook_id) VALUES (OLD.id)
        ON CONFLICT (webhook_id) DO UPDATE SET deleted_at = clock_timestamp();
    RETURN OLD;
END $$;
CREATE TRIGGER webhooks_tombstone AFTER DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION webhooks_tombstone();

CREATE TABLE webhook_payloads (
    id                 uuid PRIMARY KEY,  -- the payload_id the ingress answered with
    board_id           uuid NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    webhook_id         uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    raw_body           bytea NOT NULL,
    -- NULL when PostgreSQL cannot hold the decoded value (a NUL character); raw_body is whole.
    payload            jsonb,
    headers            jsonb NOT NULL DEFAULT '{}',
    source_ip          text,
    content_type       text,
    sender_delivery_id text,
    received_at        timestamptz NOT NULL,
    status             text NOT NULL CHECK (status IN ('processed', 'failed')),
    attempts           integer NOT NULL DEFAULT 1,
    last_error         text,
    processed_at       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_payloads_webhook_idx ON webhook_payloads (webhook_id, received_at DESC);
CREATE INDEX webhook_payloads_status_idx ON webhook_payloads (status, received_at);
CREATE UNIQUE INDEX webhook_payloads_sender_delivery_idx
    ON webhook_payloads (webhook_id, sender_delivery_id);

CREATE TABLE board_memory (
    id         uuid PRIMARY KEY,
    board_id   uuid NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    content    text NOT NULL,
    tags       text[] NOT NULL DEFAULT '{}',
    is_chat    boolean NOT NULL DEFAULT false,
    source     text NOT NULL DEFAULT 'webhook',
    payload_id uuid UNIQUE REFERENCES webhook_payloads (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX board_memory_board_idx ON board_memory (board_id, created_at DESC);

CREATE TABLE tasks (
    id                uuid PRIMARY KEY,
    board_id          uuid NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    title             text NOT NULL,
    description       text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'inbox'
        CHECK (status IN ('inbox', 'in_progress', 'review', 'done')),
    priority          text NOT NULL DEFAULT 'medium',
    assigned_agent_id uuid REFERENCES agents (id) ON DELETE SET NULL,
    payload_id        uuid UNIQUE REFERENCES webhook_payloads (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_board_idx ON tasks (board_id, created_at DESC);

CREATE TABLE task_comments (
    id         uuid PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    agent_id   uuid REFERENCES agents (id) ON DELETE SET NULL,
    message    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_comments_task_idx ON task_comments (task_id, created_at);
