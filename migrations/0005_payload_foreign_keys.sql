-- Every stored delivery fired three foreign-key checks: board, webhook, and (webhook, board)
-- from 0003. The pair implies both others (a webhook with that id and board exists, and its
-- board exists through webhooks.board_id), and it cascades deletes of a webhook and, through
-- the webhook, of its board. The single-column checks only cost a lookup per row.
ALTER TABLE webhook_payloads DROP CONSTRAINT webhook_payloads_board_id_fkey;
ALTER TABLE webhook_payloads DROP CONSTRAINT webhook_payloads_webhook_id_fkey;
