-- The (status, received_at) index took an entry for every stored delivery, yet only the failed
-- ones are ever looked up by status (to replay them): processed deliveries are nearly all rows,
-- which the (received_at, id) index already walks in order. A partial index on the failed ones
-- keeps that lookup an index range scan, in the order replay pages through, and a processed
-- delivery no longer writes an entry nobody reads (8–12 % of the database CPU per stored
-- delivery, measured with the worker's batch statement).
DROP INDEX webhook_payloads_status_idx;
CREATE INDEX webhook_payloads_failed_idx ON webhook_payloads (received_at, id)
    WHERE status = 'failed';
-- On a large existing table the build holds writes to webhook_payloads until it ends (it reads
-- the table once; only failed rows are written). Workers wait for the lock or retry; the
-- ingress never touches PostgreSQL on the ingest path, so senders are not held up.
