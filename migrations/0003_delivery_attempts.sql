-- Every try at a delivery (the first job and its retries, and each replay) is kept as its
-- attempt history, so an operator can see why a delivery failed and that a replay fixed it.

CREATE TABLE webhook_payload_attempts (
    id         bigserial PRIMARY KEY,  -- also the order attempts were recorded in
    -- No foreign key: a retry is recorded before its delivery has a row (it may never get one
    -- if it is dropped); the trigger below removes the history with its delivery.
    payload_id uuid NOT NULL,
    attempt    integer NOT NULL CHECK (attempt >= 1),
    kind       text NOT NULL CHECK (kind IN ('delivery', 'replay')),
    outcome    text NOT NULL CHECK (outcome IN ('processed', 'failed', 'retry')),
    error      text,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_payload_attempts_payload_idx ON webhook_payload_attempts (payload_id, id);

CREATE FUNCTION webhook_payloads_forget_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_payload_attempts WHERE payload_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER webhook_payloads_forget_attempts AFTER DELETE ON webhook_payloads
    FOR EACH ROW EXECUTE FUNCTION webhook_payloads_forget_attempts();

-- A delivery belongs to its webhook's board: a job naming another board is refused by the
-- database (a poison job) instead of filing the delivery on the wrong board.
ALTER TABLE webhooks ADD CONSTRAINT webhooks_id_board_key UNIQUE (id, board_id);
ALTER TABLE webhook_payloads ADD CONSTRAINT webhook_payloads_webhook_board_fkey
    FOREIGN KEY (webhook_id, board_id) REFERENCES webhooks (id, board_id) ON DELETE CASCADE;

-- Bulk replay walks deliveries in (received_at, id) order, a page at a time.
CREATE INDEX webhook_payloads_received_idx ON webhook_payloads (received_at, id);
